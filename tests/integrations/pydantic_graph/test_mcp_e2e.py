"""End to end: the pydantic-graph order-flow MCP server as a real stdio subprocess, driven by the MCP client."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from tests.integrations.example_server import example_server


async def test_order_flow_tool_over_stdio(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'orders.db'}"
    async with Client(example_server("pydantic_graph_mcp_server.py", db_url, tmp_path)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"place_order", "place_order_status", "place_order_result", "place_order_cancel"} <= names

        items = [{"sku": "mug", "qty": 2}, {"sku": "book", "qty": 1}]
        started = await client.call_tool("place_order", {"order_id": "Z-1", "items": items})
        assert not started.is_error, started
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]

        result = await client.call_tool("place_order_result", {"instance_id": iid, "wait_seconds": 30})
        assert not result.is_error, result
        assert result.structured_content is not None
        assert result.structured_content["result"] == {
            "order_id": "Z-1",
            "total": 28.5,
            "reservation": "RSV-Z-1",
            "charge": "PAY-Z-1-28.50",
            "steps": ["priced", "reserved", "charged", "confirmed"],
        }
        status = await client.call_tool("place_order_status", {"instance_id": iid})
        assert status.structured_content is not None
        assert status.structured_content["steps_completed"] == 4  # one recorded activity per graph step

        bad = await client.call_tool("place_order", {"order_id": "Z-2", "items": [{"sku": "mug"}]})
        assert bad.is_error  # missing qty: refused before anything is stored
