"""The engine's operator queries on SQLite, PostgreSQL and MySQL: counts, throughput, id prefix, children,
outbox rows of an instance, input-waiting instances and the operator action journal."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from durable_core import (
    EddaApp,
    FakeClock,
    InputValidationError,
    InstanceNotFoundError,
    InstanceStatus,
)
from durable_core.flow import FlowOptions
from tests.console.support import (
    NARRATED,
    QUEUES,
    RATE_LIMITS,
    approve,
    greet,
    order,
    queued_job,
    ship,
    storyteller,
    wait_go,
)


async def _settle(app: EddaApp, iid: str, *statuses: InstanceStatus) -> None:
    async with asyncio.timeout(20):
        while (await app.get_instance(iid)).status not in statuses:  # noqa: ASYNC110 - another task runs it
            await asyncio.sleep(0.02)


async def test_operator_queries(db_url: str) -> None:
    async with EddaApp(db_url, workflows=[order, ship, approve, wait_go, greet], poll_interval=0.05) as app:
        done = [await app.start(greet, {"name": f"n{i}"}, instance_id=f"greet-{i:02d}") for i in range(3)]
        waiting = await app.start(approve, {"request": "r"})
        failed = await app.start(order, {"item": "x", "amount": 1})
        for iid in done:
            await _settle(app, iid, InstanceStatus.COMPLETED)
        await _settle(app, waiting, InstanceStatus.WAITING)
        await _settle(app, failed, InstanceStatus.FAILED)

        counts = await app.instance_totals()
        assert dict(counts.by_workflow) == {"greet": 3, "approve": 1, "order": 1, "ship": 1}
        assert dict(counts.by_status) == {
            InstanceStatus.COMPLETED: 4,  # three greet + the child
            InstanceStatus.WAITING: 1,
            InstanceStatus.FAILED: 1,
        }
        assert counts.total == 6

        points = await app.throughput(60)
        assert len(points) == 60 and points[0].minute < points[-1].minute
        assert sum(p.started for p in points) == 6  # 5 started here + the child
        assert sum(p.finished for p in points) == 5  # all but the waiting one

        assert [r.instance_id for r in await app.search_instances(id_prefix="greet-0")] == done[::-1]
        assert await app.search_instances(id_prefix="greet_") == []  # '_' is literal, not a wildcard
        assert await app.search_instances(id_prefix="GREET") == []  # case-sensitive
        by_input = await app.search_instances(input_equals={"name": "n1"}, workflow_name="greet")
        assert [r.instance_id for r in by_input] == ["greet-01"]

        assert [r.instance_id for r in await app.instances_awaiting_input()] == [waiting]
        children = await app.list_children(failed)
        assert [c.workflow_name for c in children] == ["ship"]
        assert children[0].parent_instance_id == failed
        assert await app.list_outbox_of(failed) == []
        assert await app.get_archived_runs(failed) == []
        assert [a.position for a in await app.get_attempts(failed)] in ([], [0])  # reserve_stock retried

        action = await app.record_operator_action(
            waiting, "send-event", actor="ops@example", reason="unstick", detail={"event_type": "go"}
        )
        journal = await app.list_operator_actions(waiting)
        assert journal == [action]
        assert journal[0].detail == {"event_type": "go"}
        with pytest.raises(InputValidationError):
            await app.record_operator_action(waiting, "", actor="x", reason="y")

        await app.cancel(waiting, "done", cancelled_by="ops@example")
        await _settle(app, waiting, InstanceStatus.CANCELLED)
        assert await app.purge(timedelta(0)) >= 1
        assert (await app.storage.operator_queries().actions_of(waiting, 10)) == []  # purged with it


def _broken(instance_id: str) -> None:
    raise RuntimeError(f"listener bug ({instance_id})")


async def test_change_listeners_hear_local_runs_end(tmp_path: object) -> None:
    seen: list[str] = []
    async with EddaApp("sqlite:///:memory:", workflows=[greet], clock=FakeClock()) as app:
        app.add_change_listener(seen.append)
        app.add_change_listener(_broken)  # a broken listener does not break the run
        iid = await app.start(greet, {"name": "x"})
        assert await app.wait_result(iid, timeout=10) == "hello x"
        app.remove_change_listener(seen.append)
    assert iid in seen


async def test_queue_backlog_and_rate_limit_states(db_url: str) -> None:
    # a client-only app: nothing runs, so every start waits in the queue
    async with EddaApp(
        db_url, workflows=[queued_job], queues=QUEUES, rate_limits=RATE_LIMITS, run_workers=False
    ) as app:
        assert await app.queue_backlog("console-q") is not None
        empty = await app.queue_backlog("console-q")
        assert empty is not None and empty.key_count == 0 and empty.oldest_queued_at is None
        keys = ["acme", "acme", "acme", "globex", "globex", "initech", None]
        for i, key in enumerate(keys):
            await app.start(queued_job, {"gate": f"g{i}"}, options=FlowOptions(queue_key=key))
        backlog = await app.queue_backlog("console-q", key_limit=2)
        assert backlog is not None
        assert backlog.priority is True
        assert backlog.key_count == 4 and backlog.more_keys == 2
        assert [(k.key, k.depth, k.queued, k.running) for k in backlog.keys] == [
            ("acme", 3, 3, 0),
            ("globex", 2, 2, 0),
        ]
        assert backlog.oldest_queued_at is not None
        assert backlog.rate_next_free_at is None  # nothing admitted yet: the rate limit is idle
        assert await app.queue_backlog("no-such-queue") is None
        with pytest.raises(InputValidationError):
            await app.queue_backlog("console-q", key_limit=0)

        (state,) = await app.rate_limit_states()
        assert state.name == "console-api" and state.limit == RATE_LIMITS["console-api"]
        assert state.next_free_at is None
    # another app that does not configure the limit still lists it, without its setting
    async with EddaApp(db_url, workflows=[], run_workers=False) as other:
        (state,) = await other.rate_limit_states()
        assert state.name == "console-api" and state.limit is None


async def test_list_streams_counts_chunks_by_attempt_status(db_url: str) -> None:
    NARRATED.pop("engine", None)
    async with EddaApp(db_url, workflows=[storyteller], poll_interval=0.05) as app:
        iid = await app.start(storyteller, {"topic": "engine"})
        assert await app.wait_result(iid, timeout=30) == 2
        (summary,) = await app.list_streams(iid)
        assert summary.name == "story"
        # attempt 1 wrote one chunk and failed (abandoned); attempt 2 wrote two chunks and a CLOSE
        assert (summary.chunks, summary.last_seq) == (4, 4)
        assert (summary.abandoned, summary.in_flight, summary.failed) == (1, 0, 0)
        assert summary.closed is True
        assert summary.last_written_at is not None
        with pytest.raises(InstanceNotFoundError):
            await app.list_streams("no-such-instance")


async def test_the_workflow_by_status_counts_read_a_covering_index(db_url: str) -> None:
    """The ``edda_instances`` gauge's query is served by the v13 index alone: no table scan at 1M rows."""
    async with EddaApp(db_url, workflows=[greet], poll_interval=0.05) as app:
        iid = await app.start(greet, {"name": "plan"})
        await app.wait_result(iid, timeout=20)
        counts = await app.count_instances()
        assert [(c.workflow_name, c.status, c.count) for c in counts] == [
            ("greet", InstanceStatus.COMPLETED, 1)
        ]
        sql = (
            "SELECT workflow_name, status, count(*) FROM edda_instances "
            "GROUP BY workflow_name, status ORDER BY workflow_name, status"
        )
        async with app.storage._conns.read() as conn:  # type: ignore[attr-defined]
            dialect = conn.dialect.name
            if dialect == "postgresql":
                await conn.execute(text("SET LOCAL enable_seqscan = off"))  # the plan a large table gets
                plan = " ".join(str(r[0]) for r in (await conn.execute(text(f"EXPLAIN {sql}"))).all())
                assert "Index Only Scan using ix_edda_instances_workflow_status" in plan, plan
            elif dialect == "sqlite":
                rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all()
                plan = " ".join(str(r[-1]) for r in rows)
                assert "COVERING INDEX ix_edda_instances_workflow_status" in plan, plan
            else:
                row = (await conn.execute(text(f"EXPLAIN {sql}"))).mappings().one()
                assert row["key"] == "ix_edda_instances_workflow_status", dict(row)
                assert "Using index" in str(row["Extra"]), dict(row)
