"""Bad input never crashes the server and never stores anything."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mcp import Client, MCPError

from edda_mcp import EddaMCPServer, ToolDefinitionError
from tests.mcp import workflows as wfs
from tests.mcp.support import code_of


async def test_unknown_tool_oversized_and_invalid_arguments(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on(max_argument_bytes=1000)
    async with server.running(), Client(server.mcp) as client:
        unknown = await client.call_tool("no_such_tool", {})
        huge = await client.call_tool("place_order", {"order_id": "x" * 5000})
        nested = await client.call_tool("place_order", {"order_id": {"nested": True}})
        extra_type = await client.call_tool("place_order_result", {"instance_id": 12})
        with pytest.raises(MCPError):
            await client.get_prompt("no_such_prompt", {})
        assert await server.app.list_instances() == []
        fine = await client.call_tool("place_order", {"order_id": "ok"})
    assert unknown.is_error and "no_such_tool" in unknown.content[0].text  # type: ignore[union-attr]
    assert huge.is_error and huge.structured_content is None
    assert code_of(huge) == "invalid_input" and "too large" in huge.content[0].text  # type: ignore[union-attr]
    assert nested.is_error and "order_id" in nested.content[0].text  # type: ignore[union-attr]
    assert extra_type.is_error and "instance_id" in extra_type.content[0].text  # type: ignore[union-attr]
    assert not fine.is_error


def test_reserved_and_duplicate_names_are_refused(tmp_path: object) -> None:
    server = EddaMCPServer("dupes", db_url="sqlite:///:memory:")
    server.durable_tool(wfs.mcp_t_failing, name="once")
    with pytest.raises(ToolDefinitionError, match="already exists"):
        server.durable_tool(wfs.mcp_t_failing, name="once")

    async def uses_reserved(ctx: object, idempotency_key: str) -> str:
        return idempotency_key

    with pytest.raises(ToolDefinitionError, match="'idempotency_key' is reserved"):
        server.durable_tool(uses_reserved)
