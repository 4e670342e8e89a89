"""Queues: concurrency across the database, slots given back while waiting, per-key limits, fairness,
priorities and queue statistics (every backend)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable_core import (
    Catalog,
    ConfigurationError,
    EddaApp,
    WorkflowCancelledError,
    WorkflowContext,
    activity,
    start_child,
    wait_event,
    workflow,
)
from durable_core.flow import Queue


class Gauge:
    """Counts activities running at once (overall and per key) and the order they started in."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.per_key: dict[str, int] = {}
        self.peak_per_key: dict[str, int] = {}
        self.order: list[str] = []

    async def hold(self, key: str, label: str, seconds: float) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.per_key[key] = self.per_key.get(key, 0) + 1
        self.peak_per_key[key] = max(self.peak_per_key.get(key, 0), self.per_key[key])
        self.order.append(label)
        try:
            await asyncio.sleep(seconds)  # the activity's "work": overlapping runs are what is measured
        finally:
            self.now -= 1
            self.per_key[key] -= 1


def _define(catalog: Catalog, gauge: Gauge, seconds: float = 0.02) -> Any:
    @activity
    async def work(ctx: WorkflowContext, key: str, label: str) -> None:
        await gauge.hold(key, label, seconds)

    @workflow(catalog=catalog, queue="q")
    async def queued(ctx: WorkflowContext, key: str, label: str) -> str:
        await work(ctx, key, label)
        return label

    return queued


async def _until_running(app: EddaApp, iid: str) -> None:
    async with asyncio.timeout(10):
        while True:
            if iid in app._dispatcher.running:
                break
            await asyncio.sleep(0.01)  # bounded: until it holds the queue's slot


async def _all_done(app: EddaApp, ids: list[str]) -> list[Any]:
    async with asyncio.timeout(60):
        return list(await asyncio.gather(*(app.wait_result(i) for i in ids)))


async def test_queue_concurrency_caps_running_activities(make_app, catalog: Catalog) -> None:
    gauge = Gauge()
    queued = _define(catalog, gauge)
    app = await make_app(queues=[Queue("q", concurrency=2)], poll_interval=0.05)
    ids = [await queued.start(key="k", label=str(i)) for i in range(20)]
    assert await _all_done(app, ids) == [str(i) for i in range(20)]
    assert gauge.peak == 2


async def test_waiting_runs_give_their_slot_back(make_app, catalog: Catalog) -> None:
    gauge = Gauge()

    @workflow(catalog=catalog, queue="q")
    async def waiter(ctx: WorkflowContext) -> str:
        await wait_event(ctx, "go", timeout_seconds=60)
        return "waited"

    quick = _define(catalog, gauge)
    app = await make_app(queues=[Queue("q", concurrency=1)], poll_interval=0.05)
    parked = await waiter.start()
    async with asyncio.timeout(10):
        while True:
            if (await app.get_wait(parked)) is not None:
                break
            await asyncio.sleep(0.01)  # bounded by the timeout: until the waiter parked
    # the waiter parked on its event: its slot is free for another run of the queue
    assert await _all_done(app, [await quick.start(key="k", label="x")]) == ["x"]
    await app.send_event("go", "test", {}, instance_id=parked)
    assert await _all_done(app, [parked]) == ["waited"]


async def test_per_key_concurrency_with_five_keys(make_app, catalog: Catalog) -> None:
    gauge = Gauge()
    queued = _define(catalog, gauge)
    app = await make_app(queues=[Queue("q", concurrency=10, per_key_concurrency=1)], poll_interval=0.05)
    ids = [
        await queued.with_options(queue_key=f"t{k}").start(key=f"t{k}", label=f"{k}-{i}")
        for i in range(4)
        for k in range(5)
    ]
    await _all_done(app, ids)
    assert set(gauge.peak_per_key.values()) == {1}
    assert gauge.peak > 1  # different keys did run side by side


async def test_fair_across_keys_and_priorities(make_app, catalog: Catalog) -> None:
    gauge = Gauge()
    release = asyncio.Event()

    @activity
    async def blocker_step(ctx: WorkflowContext) -> None:
        await release.wait()  # holds the queue's only slot until every start is stored

    @workflow(catalog=catalog, queue="q")
    async def blocker(ctx: WorkflowContext) -> None:
        await blocker_step(ctx)

    queued = _define(catalog, gauge, seconds=0)
    app = await make_app(queues=[Queue("q", concurrency=1)], poll_interval=0.05)
    first = await blocker.start()
    await _until_running(app, first)
    big = [await queued.with_options(queue_key="big").start(key="big", label=f"big{i}") for i in range(8)]
    small = await queued.with_options(queue_key="small").start(key="small", label="small")
    urgent = await queued.with_options(queue_key="big", priority=5).start(key="big", label="urgent")
    release.set()
    await _all_done(app, [first, *big, small, urgent])
    assert gauge.order[0] == "urgent"  # the highest priority goes first
    # one turn for the big key at most, then the small key's only run
    assert gauge.order.index("small") <= 2, gauge.order[:5]
    assert [label for label in gauge.order if label.startswith("big")] == [f"big{i}" for i in range(8)]


async def test_queue_stats_and_unknown_queue(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def waiter(ctx: WorkflowContext) -> None:
        await wait_event(ctx, "go", timeout_seconds=60)

    app = await make_app(queues=[Queue("q", concurrency=3, per_key_concurrency=1)], poll_interval=0.05)
    ids = [await waiter.with_options(queue="q", queue_key="a").start() for _ in range(2)]
    ids.append(await waiter.with_options(queue="q", queue_key="b").start())
    async with asyncio.timeout(10):
        while True:
            (stats,) = await app.queue_stats()
            by_key = {k.key: k for k in stats.keys}
            if stats.depth == 3 and stats.queued == 0 and stats.running == 0:
                break  # all three parked on their event: none holds a slot
            await asyncio.sleep(0.02)  # bounded by the timeout
    assert (stats.name, stats.concurrency, stats.per_key_concurrency) == ("q", 3, 1)
    assert by_key["a"].depth == 2 and by_key["b"].depth == 1
    with pytest.raises(ConfigurationError, match="queue 'nope' is not configured"):
        await waiter.with_options(queue="nope").start()
    for iid in ids:
        await app.send_event("go", "test", {}, instance_id=iid)
    await _all_done(app, ids)
    (stats,) = await app.queue_stats()
    assert (stats.depth, stats.running) == (0, 0)


async def test_children_of_a_queued_workflow_run_in_its_queue(make_app, catalog: Catalog) -> None:
    gauge = Gauge()
    queued = _define(catalog, gauge)

    @workflow(catalog=catalog)
    async def parent(ctx: WorkflowContext) -> list[str]:
        handles = [await start_child(ctx, queued, key="k", label=f"c{i}") for i in range(4)]
        return [await h.result() for h in handles]

    app = await make_app(queues=[Queue("q", concurrency=1)], poll_interval=0.05)
    assert await _all_done(app, [await parent.start()]) == [["c0", "c1", "c2", "c3"]]
    assert gauge.peak == 1


async def test_cancelling_a_queued_instance_needs_no_slot(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog, queue="q")
    async def holder(ctx: WorkflowContext) -> None:
        await holder_step(ctx)

    release = asyncio.Event()

    @activity
    async def holder_step(ctx: WorkflowContext) -> None:
        await release.wait()  # keeps the queue's only slot

    app = await make_app(queues=[Queue("q", concurrency=1)], poll_interval=0.05)
    first = await holder.start()
    await _until_running(app, first)
    queued = await holder.start()
    await app.cancel(queued, reason="not needed")
    async with asyncio.timeout(30):
        with pytest.raises(WorkflowCancelledError):
            await app.wait_result(queued)
    release.set()
    await _all_done(app, [first])
