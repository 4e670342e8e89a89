"""Channels (competing/broadcast/send_to), child workflows, recur, wait_first/wait_all."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest

from durable_core import (
    Catalog,
    ChildWorkflowError,
    EddaApp,
    EventTimeoutError,
    FakeClock,
    InstanceStatus,
    StepKind,
    TerminalError,
    WaitInfo,
    WorkflowContext,
    activity,
    on_event,
    on_message,
    on_timer,
    publish,
    receive,
    run_child,
    send_to,
    start_child,
    subscribe,
    unsubscribe,
    wait_all,
    wait_event,
    wait_first,
    workflow,
)
from durable_core.storage.messaging import SqlMessaging
from tests.messaging.test_events import wait_status


async def waiting_for(app: EddaApp, iid: str, predicate: Callable[[WaitInfo], bool]) -> WaitInfo:
    """Wait (bounded) until the instance is parked waiting for what ``predicate`` accepts."""
    async with asyncio.timeout(10):
        while True:
            info = await app.get_wait(iid)
            if info is not None and predicate(info) and iid not in app._dispatcher.running:
                return info
            await asyncio.sleep(0.01)  # re-read; bounded by the timeout above


async def test_competing_consumers_share_and_broadcast_subscribers_all_get(
    make_app, catalog: Catalog
) -> None:
    @workflow(catalog=catalog)
    async def worker(ctx: WorkflowContext, n: int, count: int) -> list[int]:
        await subscribe(ctx, "jobs", mode="competing")
        got = []
        for _ in range(count):
            got.append((await receive(ctx, "jobs")).data["job"])
        return got

    @workflow(catalog=catalog)
    async def listener(ctx: WorkflowContext, n: int) -> list[int]:
        await subscribe(ctx, "news", mode="broadcast")
        return [(await receive(ctx, "news")).data["k"] for _ in range(3)]

    app = await make_app()
    # jobs published before anyone subscribes wait in the queue
    await app.publish("jobs", {"job": 0})
    workers = [await worker.start(n=n, count=3) for n in range(3)]
    listeners = [await listener.start(n=n) for n in range(2)]
    for iid in listeners:
        await wait_status(app, iid, InstanceStatus.WAITING)
    await asyncio.gather(*(app.publish("jobs", {"job": j}) for j in range(1, 9)))
    for k in range(3):
        await app.publish("news", {"k": k})
    results = [await app.wait_result(i, timeout=20) for i in workers]
    assert sorted(j for r in results for j in r) == list(range(9))  # each job exactly once
    assert [await app.wait_result(i, timeout=20) for i in listeners] == [[0, 1, 2], [0, 1, 2]]


async def test_send_to_is_kept_until_received_and_unsubscribe(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def inbox(ctx: WorkflowContext) -> list[str]:
        await subscribe(ctx, "room", mode="broadcast")
        first = await receive(ctx, "room")
        await unsubscribe(ctx, "room")
        direct = await receive(ctx, "direct")
        return [first.data, direct.data, str(direct.sender_instance_id)]

    @workflow(catalog=catalog)
    async def sender(ctx: WorkflowContext, target: str) -> None:
        await send_to(ctx, target, "direct", "hello")
        await publish(ctx, "room", "broadcast-1")

    app = await make_app()
    target = await inbox.start()
    await wait_status(app, target, InstanceStatus.WAITING)
    sender_id = await sender.start(target=target)
    await app.wait_result(sender_id, timeout=10)
    assert await app.wait_result(target, timeout=10) == ["broadcast-1", "hello", sender_id]
    kinds = [e.kind for e in await app.get_history(sender_id)]
    assert kinds == [StepKind.SEND, StepKind.SEND]


async def test_receive_timeout_and_wait_first_on_the_fake_clock(make_app, catalog: Catalog) -> None:
    clock = FakeClock()

    @workflow(catalog=catalog)
    async def race(ctx: WorkflowContext) -> list[str]:
        out = []
        try:
            await receive(ctx, "quiet", timeout_seconds=10)
        except EventTimeoutError:
            out.append("receive timed out")
        first = await wait_first(ctx, on_event("approve"), on_message("reject"), on_timer(3600))
        out.append(f"first={first.index}")
        both = await wait_all(ctx, on_event("a"), on_event("b"))
        out.append(f"all={[e.data for e in both]}")
        return out

    app = await make_app(clock=clock)
    iid = await race.start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(11)
    info = await waiting_for(app, iid, lambda w: w.event_types == ("approve",))
    assert info.channels == ("reject",) and info.wake_at is not None
    await app.send_to(iid, "reject", {"why": "no"})
    await waiting_for(app, iid, lambda w: w.event_types == ("a", "b"))
    await app.send_event("b", "t", 2, instance_id=iid)  # b before a: both are collected
    await app.send_event("a", "t", 1, instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == ["receive timed out", "first=1", "all=[1, 2]"]
    reports = await app.replay_check(limit=5)
    assert all(r.ok for r in reports), reports


async def test_child_workflows_result_failure_and_cancel_propagation(make_app, catalog: Catalog) -> None:
    @activity
    async def boom(ctx: WorkflowContext) -> None:
        raise TerminalError("child failed")

    @workflow(catalog=catalog)
    async def double(ctx: WorkflowContext, x: int) -> int:
        return 2 * x

    @workflow(catalog=catalog)
    async def failing(ctx: WorkflowContext) -> None:
        await boom(ctx)

    @workflow(catalog=catalog)
    async def forever(ctx: WorkflowContext) -> None:
        await wait_event(ctx, "never")

    @workflow(catalog=catalog)
    async def parent(ctx: WorkflowContext) -> list[str]:
        out = [str(await run_child(ctx, double, x=21))]
        try:
            await run_child(ctx, failing)
        except ChildWorkflowError as exc:
            out.append(f"{exc.status}:{exc.type_name.rsplit(':', 1)[-1]}")
        await start_child(ctx, forever, instance_id=f"{ctx.instance_id}-forever")
        await wait_event(ctx, "never")
        return out

    app = await make_app()
    iid = await parent.start()
    await waiting_for(app, iid, lambda w: w.event_types == ("never",))
    child = await app.get_instance(f"{iid}-forever")
    assert child.parent_instance_id == iid
    kinds = Counter(e.kind for e in await app.get_history(iid))
    assert kinds[StepKind.CHILD] == 3 and kinds[StepKind.WAIT] == 2
    await app.cancel(iid, reason="test")
    await wait_status(app, iid, InstanceStatus.CANCELLED)
    await wait_status(app, f"{iid}-forever", InstanceStatus.CANCELLED)
    assert (await app.get_instance(f"{iid}-forever")).cancelled_by == iid


async def test_recur_keeps_the_id_bounds_history_and_keeps_subscriptions(make_app, catalog: Catalog) -> None:
    @activity
    async def work(ctx: WorkflowContext, i: int) -> int:
        return i

    @workflow(catalog=catalog)
    async def loop(ctx: WorkflowContext, i: int, until: int) -> int:
        if i == 0:
            await subscribe(ctx, "tick", mode="competing")
        await work(ctx, i)
        if i == until:
            return int((await receive(ctx, "tick")).data)
        await ctx.recur(i=i + 1, until=until)
        raise AssertionError("recur returned")

    app = await make_app()
    iid = await loop.start(i=0, until=20)
    await wait_status(app, iid, InstanceStatus.WAITING)
    history = await app.get_history(iid)
    assert [e.kind for e in history] == [StepKind.ACTIVITY]  # only the current run's step
    messaging = app.storage.messaging()
    assert isinstance(messaging, SqlMessaging)  # archived_runs is test-only, not in the Messaging port
    assert len(await messaging.archived_runs(iid)) == 3  # only the newest runs are kept
    await app.publish("tick", 7)  # the subscription made in run 0 survived 20 recurs
    assert await app.wait_result(iid, timeout=10) == 7


@pytest.mark.parametrize("count", [40])
async def test_no_lost_wakeups_under_concurrent_sends(make_app, catalog: Catalog, count: int) -> None:
    """Addressed events and competing messages sent while waits are being registered: each exactly once."""

    @activity
    async def jitter(ctx: WorkflowContext, n: int) -> None:
        await asyncio.sleep(0 if n % 3 else 0.001 * (n % 7))  # vary where the wait registration lands

    @workflow(catalog=catalog)
    async def waiter(ctx: WorkflowContext, n: int) -> list[int]:
        await subscribe(ctx, "work", mode="competing")
        await jitter(ctx, n)
        event = await wait_event(ctx, "poke")
        job = await receive(ctx, "work")
        return [event.data, job.data]

    app = await make_app()
    ids = [await waiter.start(n=n) for n in range(count)]

    async def poke(n: int) -> None:
        await asyncio.sleep(0.0005 * (n % 5))
        await app.send_event("poke", "t", n, instance_id=ids[n])
        await app.publish("work", 1000 + n)

    await asyncio.gather(*(poke(n) for n in range(count)))
    results = [await app.wait_result(i, timeout=30) for i in ids]
    assert [r[0] for r in results] == list(range(count))
    assert sorted(r[1] for r in results) == [1000 + n for n in range(count)]


async def test_wait_first_stops_listening_for_the_other_alternatives(make_app, catalog: Catalog) -> None:
    """After wait_first ends, an event by type for an alternative it did not take is not kept for later."""
    gate = asyncio.Event()

    started = asyncio.Event()

    @activity
    async def hold(ctx: WorkflowContext) -> None:
        started.set()
        await asyncio.wait_for(gate.wait(), 10)

    @workflow(catalog=catalog)
    async def picky(ctx: WorkflowContext) -> list[str]:
        first = await wait_first(ctx, on_event("a"), on_event("b"))
        await hold(ctx)
        later = await wait_event(ctx, "b")
        return [first.value.data, later.data]

    app = await make_app()
    iid = await picky.start()
    await waiting_for(app, iid, lambda w: w.event_types == ("a", "b"))
    await app.send_event("a", "t", "a1", instance_id=iid)
    await asyncio.wait_for(started.wait(), 10)  # hold() runs: the wait_first entry is recorded
    await app.send_event("b", "t", "stale")  # by type, while picky runs hold(): nobody waits for "b"
    gate.set()
    await waiting_for(app, iid, lambda w: w.event_types == ("b",))
    await app.send_event("b", "t", "fresh")
    assert await app.wait_result(iid, timeout=10) == ["a1", "fresh"]
