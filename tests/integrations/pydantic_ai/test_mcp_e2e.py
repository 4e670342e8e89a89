"""End to end: the pydantic-ai support MCP server as a real stdio subprocess, approval answered over MCP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client

from tests.crash.support import wait_until
from tests.integrations.example_server import example_server


async def test_durable_agent_tool_with_approval_over_stdio(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'support.db'}"
    async with Client(example_server("pydantic_ai_mcp_server.py", db_url, tmp_path)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"support_ticket", "support_ticket_result", "support_ticket_respond"} <= names
        started = await client.call_tool("support_ticket", {"message": "damaged book"})
        assert not started.is_error, started
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        status: dict[str, Any] = {}

        async def waiting() -> bool:
            nonlocal status
            result = await client.call_tool("support_ticket_status", {"instance_id": iid})
            status = result.structured_content or {}
            return status.get("status") == "waiting"

        await wait_until(waiting, "the agent run waits for approval")
        assert status["waiting_for"]["event_types"] == ["approve_refund"]
        # model request, lookup_order, model request, the recorded `ask`: all before the wait
        assert status["steps_completed"] == 4

        refused = await client.call_tool(
            "support_ticket_respond", {"instance_id": iid, "data": {"approvals": {"nope": True}}}
        )
        assert refused.is_error  # not a pending call: refused against the wait's schema
        answered = await client.call_tool(
            "support_ticket_respond", {"instance_id": iid, "data": {"approvals": {"pay": True}}}
        )
        assert not answered.is_error, answered
        done = await client.call_tool("support_ticket_result", {"instance_id": iid, "wait_seconds": 30})
        assert not done.is_error, done
        assert done.structured_content is not None
        assert done.structured_content["result"] == "Done: refunded 12.50 EUR for A-7"
