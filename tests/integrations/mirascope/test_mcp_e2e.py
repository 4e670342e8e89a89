"""End to end: the mirascope research-agent MCP server as a real stdio subprocess, driven by the MCP client."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from tests.integrations.example_server import example_server


async def test_research_agent_tool_over_stdio(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'research.db'}"
    async with Client(example_server("mirascope_mcp_server.py", db_url, tmp_path)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"research", "research_status", "research_result", "research_cancel"} <= names

        started = await client.call_tool("research", {"topic": "durable agents"})
        assert not started.is_error, started
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]

        result = await client.call_tool("research_result", {"instance_id": iid, "wait_seconds": 30})
        assert not result.is_error, result
        assert result.structured_content is not None
        assert result.structured_content["result"] == {
            "topic": "durable agents",
            "summary": "2 searches done",
            "sources": ["top result for 'durable agents'", "top result for 'durable agents risks'"],
            "model_requests": 2,
            "tokens": 255,
        }

        status = await client.call_tool("research_status", {"instance_id": iid})
        assert status.structured_content is not None
        assert status.structured_content["steps_completed"] == 4  # request, 2 searches, request
