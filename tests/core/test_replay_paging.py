"""The replay check pages through stored instances (replay.checker.replay_check) and honours its limit."""

from __future__ import annotations

import pytest

from durable_core import Catalog, WorkflowContext, workflow


async def test_replay_check_pages_through_every_instance(
    make_app, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("durable_core.replay.checker.PAGE_SIZE", 2)  # five instances: three pages

    @workflow(catalog=catalog)
    async def echo(ctx: WorkflowContext, n: int) -> int:
        return n

    app = await make_app()
    ids = [await echo.start(n=n) for n in range(5)]
    for iid in ids:
        assert await app.wait_result(iid, timeout=10) == ids.index(iid)
    reports = await app.replay_check()
    assert sorted(r.instance_id for r in reports) == sorted(ids)  # each once, none skipped
    assert all(r.ok for r in reports)
    limited = await app.replay_check(limit=3)
    assert len(limited) == 3 and {r.instance_id for r in limited} <= set(ids)
    assert await app.replay_check(include_finished=False) == []  # all finished
