"""10,000 iterations of a loop written with ``ctx.recur`` keep one instance with a bounded history."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_core import Catalog, EddaApp, StepKind, WorkflowContext, activity, workflow
from durable_core.storage.messaging import SqlMessaging
from tests.backends import servers_only

CATALOG = Catalog()


@activity
async def tick(ctx: WorkflowContext, i: int) -> int:
    """One unit of work (every 1,000th iteration, to keep the test quick)."""
    return i


@workflow(catalog=CATALOG)
async def counter(ctx: WorkflowContext, i: int, until: int) -> int:
    """Count to ``until``, one run per number."""
    if i % 1000 == 0:
        await tick(ctx, i)
    if i >= until:
        return i
    await ctx.recur(i=i + 1, until=until)
    raise AssertionError("unreachable: recur does not return")


async def _count(url: str, until: int) -> None:
    async with EddaApp(url, workflows=list(CATALOG), poll_interval=0.5) as app:
        iid = await counter.start(i=0, until=until)
        assert await app.wait_result(iid, timeout=600) == until
        history = await app.get_history(iid)
        assert [(e.kind, e.name) for e in history] == [(StepKind.ACTIVITY, "tick")]  # the last run only
        messaging = app.storage.messaging()
        assert isinstance(messaging, SqlMessaging)  # archived_runs is test-only, not in the Messaging port
        runs = await messaging.archived_runs(iid)
        assert len(runs) <= 3  # only the newest archived runs are kept
        assert len(await app.list_instances()) == 1


@pytest.mark.timeout(900)
async def test_ten_thousand_recurs_on_sqlite(tmp_path: Path) -> None:
    await _count(f"sqlite:///{tmp_path / 'recur.db'}", 10_000)


@pytest.mark.timeout(900)
@servers_only
async def test_a_thousand_recurs_on_servers(db_url: str) -> None:
    await _count(db_url, 1_000)
