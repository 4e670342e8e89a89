"""``tasks/list`` of the 2025-11-25 tasks form: pages through every run of the server's durable tools."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError

from edda_mcp import task_states
from tests.mcp.conftest import build_server


async def test_pages_reach_every_task_once_newest_first(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_states, "LIST_PAGE_SIZE", 2)
    server = build_server(db_url)
    async with server.running():
        tool = server.durable_tools["failing"]
        created = [await tool.create({"reason": f"r{n}"}) for n in range(5)]
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            tasks, cursor = await task_states.list_page(server.app, server.durable_tools, cursor)
            pages += 1
            assert len(tasks) <= 2
            seen.extend(task.task_id for task in tasks)
            if cursor is None:
                break
        by_age = sorted(await server.app.list_instances(), key=lambda r: (r.created_at, r.instance_id))
        assert seen == [r.instance_id for r in reversed(by_age)]
        assert sorted(seen) == sorted(str(c) for c in created) and pages >= 3
        with pytest.raises(MCPError) as bad:
            await task_states.list_page(server.app, server.durable_tools, "%%%")
        assert bad.value.error.code == -32602


async def test_a_scan_limit_bounds_one_request(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_states, "LIST_PAGE_SIZE", 2)
    monkeypatch.setattr(task_states, "LIST_SCAN_LIMIT", 2)
    server = build_server(db_url)
    async with server.running():
        tool = server.durable_tools["failing"]
        for n in range(3):
            await tool.create({"reason": f"r{n}"})
        first, cursor = await task_states.list_page(server.app, server.durable_tools, None)
        assert len(first) == 2 and cursor is not None
        rest, end = await task_states.list_page(server.app, server.durable_tools, cursor)
        assert len(rest) == 1 and end is None
