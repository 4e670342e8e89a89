"""Workflow timeouts, cancelling before a run, client-only apps, payload codecs, purging."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from datetime import timedelta

import pytest

from durable_core import (
    Catalog,
    EddaApp,
    FakeClock,
    InstanceStatus,
    WorkflowCancelledError,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowTimeoutError,
    activity,
    register_compensation,
    workflow,
)


async def test_workflow_timeout_fails_it_at_the_next_step(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    reached = asyncio.Event()
    release = asyncio.Event()
    ran: list[str] = []

    @activity
    async def slow(ctx: WorkflowContext) -> None:
        reached.set()
        await release.wait()

    @activity
    async def later(ctx: WorkflowContext) -> None:
        ran.append("later")

    @workflow(catalog=catalog, timeout=60)
    async def bounded(ctx: WorkflowContext) -> None:
        await slow(ctx)
        await later(ctx)

    app = await make_app(clock=clock)
    iid = await bounded.start()
    await asyncio.wait_for(reached.wait(), 10)
    clock.advance(61)
    release.set()
    with pytest.raises(WorkflowFailedError) as info:
        await app.handle(iid).result(timeout=10)
    assert isinstance(info.value.__cause__, WorkflowTimeoutError)
    assert ran == []


async def test_cancel_before_first_run_and_cancel_of_finished(db_url: str, catalog: Catalog) -> None:
    ran: list[str] = []

    @workflow(catalog=catalog)
    async def job(ctx: WorkflowContext) -> None:
        ran.append("ran")

    # A client-only app stores instances but never runs them (e.g. an API process).
    async with EddaApp(db_url, workflows=list(catalog), run_workers=False) as client:
        iid = await job.start()
        assert (await client.get_instance(iid)).status is InstanceStatus.PENDING
        assert (await client.cancel(iid, reason="not needed")).value == "requested"
        done = await job.start()
    async with EddaApp(db_url, workflows=list(catalog), poll_interval=0.1) as worker:
        with pytest.raises(WorkflowCancelledError, match="not needed"):
            await worker.handle(iid).result(timeout=10)
        assert await worker.handle(done).result(timeout=10) is None
        assert (await worker.cancel(done)).value == "already-finished"
    assert ran == ["ran"]


class ZlibCodec:
    def encode(self, data: bytes) -> bytes:
        return zlib.compress(data)

    def decode(self, data: bytes) -> bytes:
        return zlib.decompress(data)


async def test_payload_codec_and_bytes_round_trip(make_app, catalog: Catalog) -> None:
    blob = bytes(range(256))

    @activity
    async def echo_bytes(ctx: WorkflowContext, data: bytes) -> bytes:
        return data[::-1]

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext, text: str) -> bytes:
        return await echo_bytes(ctx, blob)

    app = await make_app(payload_codec=ZlibCodec())
    iid = await wf.start(text="secret " * 50)
    assert await app.handle(iid).result(timeout=10) == blob[::-1]
    record = await app.get_instance(iid)
    assert record.input.json_value is None and record.input.blob is not None
    assert b"secret" not in record.input.blob  # stored compressed, not as plain JSON
    (entry,) = await app.get_history(iid)
    assert entry.result.blob is not None and entry.result.blob != blob[::-1]


async def test_purge_removes_only_old_finished_instances(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    gate = asyncio.Event()

    @workflow(catalog=catalog)
    async def quick(ctx: WorkflowContext) -> int:
        return 1

    @activity
    async def wait_gate(ctx: WorkflowContext) -> None:
        await gate.wait()

    @workflow(catalog=catalog)
    async def slow(ctx: WorkflowContext) -> None:
        await wait_gate(ctx)

    app = await make_app(clock=clock)
    old = await quick.start()
    await app.handle(old).result(timeout=10)
    running = await slow.start()
    clock.advance(3 * 86400)
    recent = await quick.start()
    await app.handle(recent).result(timeout=10)
    assert await app.purge(older_than=timedelta(days=1)) == 1
    remaining = {r.instance_id for r in await app.list_instances()}
    assert remaining == {running, recent}
    assert await app.get_history(recent) == []
    gate.set()
    await app.handle(running).result(timeout=10)


async def test_workflow_timeout_interrupts_a_running_activity(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    reached = asyncio.Event()
    undone: list[str] = []

    async def undo(ctx: WorkflowContext) -> None:
        undone.append("undo")

    @activity
    async def quick(ctx: WorkflowContext) -> None:
        return None

    @activity
    async def hangs(ctx: WorkflowContext) -> None:
        reached.set()
        await asyncio.Event().wait()

    @workflow(catalog=catalog, timeout=30)
    async def bounded(ctx: WorkflowContext) -> None:
        await quick(ctx)
        register_compensation(ctx, undo)
        await hangs(ctx)

    app = await make_app(clock=clock, lease_ttl=3600.0)  # advancing the fake clock must not expire the lease
    iid = await bounded.start()
    await asyncio.wait_for(reached.wait(), 10)
    await clock.wait_for_sleepers(1)  # the deadline watchdog
    clock.advance(31)
    with pytest.raises(WorkflowFailedError) as info:
        await app.handle(iid).result(timeout=10)
    assert isinstance(info.value.__cause__, WorkflowTimeoutError)
    assert undone == ["undo"]


async def test_local_starts_beyond_the_concurrency_limit_wait_in_a_backlog(
    make_app, catalog: Catalog
) -> None:
    gate, two_running = asyncio.Event(), asyncio.Event()
    running: list[int] = []

    @activity
    async def hold(ctx: WorkflowContext, n: int) -> int:
        running.append(n)
        if len(running) >= 2:
            two_running.set()
        await gate.wait()
        return n

    @workflow(catalog=catalog)
    async def limited(ctx: WorkflowContext, n: int) -> int:
        return await hold(ctx, n)

    app = await make_app(max_concurrent_runs=2)
    ids = [await limited.start(n=n) for n in range(5)]
    await asyncio.wait_for(two_running.wait(), 20)  # the first two runs reach their activity
    assert sorted(running) == [0, 1]  # the limit holds
    records = [await app.get_instance(i) for i in ids]
    # two more wait in the local backlog, already leased here (no claim round trip needed later)
    assert [r.lease_owner == app.worker_id for r in records[:4]] == [True, True, True, True]
    assert len(running) == 2  # still only two running
    gate.set()
    assert [await app.handle(i).result(timeout=10) for i in ids] == [0, 1, 2, 3, 4]
    assert running[:2] == [0, 1] and sorted(running) == [0, 1, 2, 3, 4]
    assert running.index(2) < running.index(3)  # the backlog starts oldest first


async def test_retention_policy_purges_old_finished_instances(make_app, catalog: Catalog) -> None:
    from durable_core import ConfigurationError, RetentionPolicy

    clock = FakeClock()

    @workflow(catalog=catalog)
    async def short(ctx: WorkflowContext) -> int:
        return 1

    app = await make_app(
        clock=clock, retention=RetentionPolicy(keep_finished=timedelta(days=7), interval=3600)
    )
    old = await short.start()
    await app.handle(old).result(timeout=10)
    await clock.wait_for_sleepers(1)  # the retention loop purged nothing and sleeps for an hour
    clock.advance(8 * 86400)
    recent = await short.start()
    await app.handle(recent).result(timeout=10)
    with contextlib.suppress(TimeoutError):  # bounded: the loop wakes, purges, sleeps
        async with asyncio.timeout(20):
            while [r.instance_id for r in await app.list_instances()] != [recent]:  # noqa: ASYNC110 - a database state
                await asyncio.sleep(0.01)
    assert [r.instance_id for r in await app.list_instances()] == [recent]
    with pytest.raises(ConfigurationError, match="keep_finished"):
        RetentionPolicy(keep_finished=timedelta(0))
