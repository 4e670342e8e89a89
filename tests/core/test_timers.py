"""Durable timers: sleeping instances wait in the database, wake on the clock, survive restarts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from durable_core import (
    Catalog,
    EddaApp,
    FakeClock,
    InstanceStatus,
    RetryPolicy,
    StepKind,
    WorkflowCancelledError,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowTimeoutError,
    activity,
    compensation,
    on_failure,
    sleep,
    sleep_until,
    workflow,
)

HOUR = 3600.0


async def _wait_parked(app: EddaApp, iid: str, wake_at: datetime | None = None) -> None:
    """Wait (bounded) until the instance is stored as WAITING (until ``wake_at``, when given)."""
    async with asyncio.timeout(10):
        while True:
            record = await app.get_instance(iid)
            parked = record.status is InstanceStatus.WAITING and iid not in app._dispatcher.running
            if parked and (wake_at is None or record.wake_at == wake_at):
                break
            await asyncio.sleep(0.01)  # re-read the row; bounded by the timeout above
    assert record.lease_owner is None and record.lease_expires_at is None
    assert record.wake_at is not None


async def test_sleep_parks_the_instance_and_resumes_when_due(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    ran: list[str] = []

    @activity
    async def before(ctx: WorkflowContext) -> str:
        ran.append("before")
        return "b"

    @activity
    async def after(ctx: WorkflowContext, value: str) -> str:
        ran.append("after")
        return value + "a"

    @workflow(catalog=catalog)
    async def nap(ctx: WorkflowContext) -> str:
        value = await before(ctx)
        await sleep(ctx, HOUR)
        return await after(ctx, value)

    app = await make_app(clock=clock)
    start = clock.now()
    iid = await nap.start()
    await _wait_parked(app, iid)
    await clock.wait_for_sleepers(1)  # the timer loop sleeps on the clock towards the wake-up
    record = await app.get_instance(iid)
    assert record.wake_at == start + timedelta(hours=1)
    history = await app.get_history(iid)
    assert [e.kind for e in history] == [StepKind.ACTIVITY, StepKind.NOW]
    assert ran == ["before"]

    clock.advance(59 * 60)
    assert (await app.get_instance(iid)).status is InstanceStatus.WAITING
    clock.advance(61)
    assert await app.wait_result(iid, timeout=10) == "ba"
    assert ran == ["before", "after"]
    history = await app.get_history(iid)
    assert [e.kind for e in history] == [StepKind.ACTIVITY, StepKind.NOW, StepKind.TIMER, StepKind.ACTIVITY]
    assert history[2].name == "sleep"
    reports = await app.replay_check(limit=1)  # one instance in this database
    assert [(r.instance_id, r.ok) for r in reports] == [(iid, True)], reports


async def test_sleep_until_and_two_sleeps_in_a_row(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    target = clock.now() + timedelta(minutes=30)
    marks: list[datetime] = []

    @activity
    async def mark(ctx: WorkflowContext) -> None:
        marks.append(clock.now())

    @workflow(catalog=catalog)
    async def twice(ctx: WorkflowContext, until: datetime) -> int:
        await sleep_until(ctx, until, name="until")
        await mark(ctx)
        await sleep(ctx, 10, name="first")
        await sleep(ctx, 20, name="second")
        await mark(ctx)
        return len(marks)

    app = await make_app(clock=clock)
    iid = await twice.start(until=target)
    await _wait_parked(app, iid, target)
    clock.advance(30 * 60)
    await _wait_parked(app, iid, target + timedelta(seconds=10))
    assert marks == [target]
    clock.advance(10)
    await _wait_parked(app, iid, target + timedelta(seconds=30))
    clock.advance(20)
    assert await app.wait_result(iid, timeout=10) == 2
    assert marks == [target, target + timedelta(seconds=30)]
    names = [e.name for e in await app.get_history(iid) if e.kind is StepKind.TIMER]
    assert names == ["until", "first", "second"]
    reports = await app.replay_check(limit=1)
    assert [(r.instance_id, r.ok) for r in reports] == [(iid, True)], reports


async def test_elapsed_timer_does_not_park(make_app, catalog: Catalog) -> None:
    clock = FakeClock()

    @workflow(catalog=catalog)
    async def quick(ctx: WorkflowContext) -> str:
        await sleep(ctx, 0)
        await sleep_until(ctx, datetime(2000, 1, 1, tzinfo=UTC))
        return "done"

    app = await make_app(clock=clock)
    iid = await quick.start()
    assert await app.wait_result(iid, timeout=10) == "done"
    kinds = [e.kind for e in await app.get_history(iid)]
    assert kinds == [StepKind.NOW, StepKind.TIMER, StepKind.TIMER]


async def test_timers_survive_a_restart(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    ran: list[str] = []

    @activity
    async def step(ctx: WorkflowContext, label: str) -> None:
        ran.append(label)

    @workflow(catalog=catalog)
    async def durable(ctx: WorkflowContext, label: str) -> str:
        await step(ctx, label + "-before")
        await sleep(ctx, HOUR)
        await step(ctx, label + "-after")
        return label

    first = await make_app(clock=clock)
    overdue = await durable.start(label="overdue")  # due at +60 min
    await _wait_parked(first, overdue)
    clock.advance(30 * 60)
    later = await durable.start(label="later")  # due at +90 min
    await _wait_parked(first, later)
    await first.shutdown()

    clock.advance(45 * 60)  # +75 min: the first timer came due while no process was running
    second = await make_app(clock=clock)
    assert await second.wait_result(overdue, timeout=10) == "overdue"
    await _wait_parked(second, later)
    await clock.wait_for_sleepers(1)  # the new process's timer loop sleeps towards the other timer
    assert (await second.get_instance(later)).status is InstanceStatus.WAITING
    clock.advance(15 * 60)
    assert await second.wait_result(later, timeout=10) == "later"
    assert sorted(ran) == sorted(["overdue-before", "overdue-after", "later-before", "later-after"])


async def test_an_earlier_local_timer_wakes_the_timer_loop(make_app, catalog: Catalog) -> None:
    clock = FakeClock()

    @workflow(catalog=catalog)
    async def napper(ctx: WorkflowContext, seconds: float) -> float:
        await sleep(ctx, seconds)
        return seconds

    app = await make_app(clock=clock)
    slow = await napper.start(seconds=10 * HOUR)
    await _wait_parked(app, slow)
    fast = await napper.start(seconds=60)
    await _wait_parked(app, fast)
    assert (await app.get_instance(fast)).wake_at == clock.now() + timedelta(seconds=60)
    clock.advance(60)
    assert await app.wait_result(fast, timeout=10) == 60
    assert (await app.get_instance(slow)).status is InstanceStatus.WAITING


async def test_cancel_while_sleeping_runs_compensations(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    undone: list[str] = []

    @compensation
    async def unreserve(ctx: WorkflowContext, item: str, result: str) -> None:
        undone.append(result)

    @activity
    @on_failure(unreserve)
    async def reserve(ctx: WorkflowContext, item: str) -> str:
        return f"res-{item}"

    @workflow(catalog=catalog)
    async def booking(ctx: WorkflowContext) -> None:
        await reserve(ctx, "seat")
        await sleep(ctx, 24 * HOUR)

    app = await make_app(clock=clock)
    iid = await booking.start()
    await _wait_parked(app, iid)
    await app.cancel(iid, reason="changed my mind")
    with pytest.raises(WorkflowCancelledError):
        await app.wait_result(iid, timeout=10)
    assert undone == ["res-seat"]
    assert (await app.get_instance(iid)).status is InstanceStatus.CANCELLED


async def test_workflow_timeout_fires_during_a_sleep(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    undone: list[str] = []

    @compensation
    async def refund(ctx: WorkflowContext, result: str) -> None:
        undone.append(result)

    @activity
    @on_failure(refund)
    async def charge(ctx: WorkflowContext) -> str:
        return "charged"

    @workflow(catalog=catalog, timeout=60)
    async def bounded(ctx: WorkflowContext) -> None:
        await charge(ctx)
        await sleep(ctx, HOUR)

    app = await make_app(clock=clock)
    start = clock.now()
    iid = await bounded.start()
    await _wait_parked(app, iid)
    assert (await app.get_instance(iid)).wake_at == start + timedelta(seconds=60)  # min(due, deadline)
    clock.advance(60)
    with pytest.raises(WorkflowFailedError) as info:
        await app.wait_result(iid, timeout=10)
    assert isinstance(info.value.__cause__, WorkflowTimeoutError)
    assert undone == ["charged"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ctx: sleep(ctx, -1), "finite number of seconds >= 0"),
        (lambda ctx: sleep(ctx, float("nan")), "finite number of seconds >= 0"),
        (lambda ctx: sleep(ctx, "5"), "takes a number of seconds"),  # type: ignore[arg-type]
        (lambda ctx: sleep_until(ctx, datetime(2030, 1, 2)), "aware datetime"),
        (lambda ctx: sleep_until(ctx, "tomorrow"), "takes a datetime"),  # type: ignore[arg-type]
        (lambda ctx: sleep(ctx, 1, name=""), "non-empty str"),
    ],
)
async def test_bad_input_fails_the_workflow_clearly(
    make_app, catalog: Catalog, call: Any, message: str
) -> None:
    @workflow(catalog=catalog)
    async def bad(ctx: WorkflowContext) -> None:
        await call(ctx)

    app = await make_app(clock=FakeClock())
    iid = await bad.start()
    with pytest.raises(WorkflowFailedError) as info:
        await app.wait_result(iid, timeout=10)
    assert isinstance(info.value.__cause__, ValueError)
    assert message in str(info.value.__cause__)


async def test_sleep_is_refused_inside_an_activity(make_app, catalog: Catalog) -> None:
    @activity(retry_policy=RetryPolicy(max_attempts=1))
    async def naughty(ctx: WorkflowContext) -> None:
        await sleep(ctx, 1)

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> None:
        await naughty(ctx)

    app = await make_app(clock=FakeClock())
    iid = await wf.start()
    with pytest.raises(WorkflowFailedError, match="workflow bodies"):
        await app.wait_result(iid, timeout=10)


async def test_real_time_sleep(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def short(ctx: WorkflowContext) -> str:
        await sleep(ctx, 0.3)
        return "awake"

    app = await make_app(poll_interval=30.0)  # the timer loop, not the fallback poll, must wake it
    started = time.monotonic()
    iid = await short.start()
    assert await app.wait_result(iid, timeout=20) == "awake"
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 20, elapsed  # woken by its timer: the 30 s fallback poll would be later
