"""End to end: the LlamaIndex refund MCP server as a real stdio subprocess, answered through the MCP client."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from edda_mcp import error_details
from tests.integrations.example_server import example_server


async def test_refund_waits_for_approval_and_survives_a_server_restart(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'refunds.db'}"
    async with Client(example_server("llamaindex_mcp_server.py", db_url, tmp_path)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"refund", "refund_status", "refund_result", "refund_cancel", "refund_respond"} <= names
        started = await client.call_tool("refund", {"customer": "bo", "amount": 10})
        assert not started.is_error, started
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        pending = await client.call_tool("refund_result", {"instance_id": iid, "wait_seconds": 0})
        details = error_details(pending)  # an error without structured content: not finished yet
        assert pending.is_error and details is not None and details["status"] != "completed", pending

    # A new server process: the run waits in the database, not in the old process's memory.
    async with Client(example_server("llamaindex_mcp_server.py", db_url, tmp_path)) as client:
        status = await client.call_tool("refund_status", {"instance_id": iid})
        assert status.structured_content is not None
        waiting = status.structured_content["waiting_for"]
        assert waiting["event_types"] == ["refund.decision"]
        assert waiting["input_schemas"]["refund.decision"]["properties"]["decision"]["enum"] == [
            "approve",
            "decline",
        ]

        refused = await client.call_tool(
            "refund_respond", {"instance_id": iid, "data": {"decision": "maybe"}}
        )
        assert refused.is_error
        answered = await client.call_tool(
            "refund_respond", {"instance_id": iid, "data": {"decision": "decline"}}
        )
        assert not answered.is_error, answered
        done = await client.call_tool("refund_result", {"instance_id": iid, "wait_seconds": 30})
        assert not done.is_error, done
        assert done.structured_content is not None
        assert done.structured_content["result"] == {
            "ticket": "T-bo",
            "asked": "Refund 10.00 to bo?",
            "decision": "decline",
            "refunded": 0.0,
        }
