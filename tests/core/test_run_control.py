"""Run control: retry from the failed step, fork, pause / unpause at step boundaries, terminate.

Every test counts the side effects of its activities, so "kept the completed steps" and "re-ran only
from there" are asserted, not assumed. All of them run on SQLite, PostgreSQL and MySQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from durable_core import (
    Catalog,
    ControlAction,
    ControlOutcome,
    EddaApp,
    FakeClock,
    InstanceNotFoundError,
    InstanceRecord,
    InstanceStatus,
    RetryPolicy,
    RunControlError,
    StepKind,
    StepOutcome,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    on_failure,
    sleep,
    wait_event,
    workflow,
)

ONCE = RetryPolicy(max_attempts=1)
#: lease of tests that hold an activity open on the real clock: a 5 s lease could expire on a loaded
#: machine (renewals late), and this app would claim the instance again and run the activity twice
HELD = 3600.0


async def _until(app: EddaApp, iid: str, check: Callable[[InstanceRecord], bool]) -> InstanceRecord:
    """Re-read the instance (bounded) until ``check`` holds; return it."""
    async with asyncio.timeout(15):
        while True:
            record = await app.get_instance(iid)
            if check(record):
                return record
            await asyncio.sleep(0.01)  # re-read; bounded by the timeout above


async def _not_running(app: EddaApp, iid: str) -> bool:
    return iid not in app._dispatcher.running


def _released(record: InstanceRecord) -> bool:
    return record.lease_owner is None


async def _eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(15):
        while True:
            if await check():
                return
            await asyncio.sleep(0.01)  # bounded by the timeout above


def _gated_activity(
    calls: Counter[str], started: asyncio.Event, release: asyncio.Event, result: str
) -> Callable[[WorkflowContext], Awaitable[str]]:
    """An activity ``slow`` that counts its runs, says it started, and returns once ``release`` is set."""

    @activity(name="slow")
    async def slow(ctx: WorkflowContext) -> str:
        calls["slow"] += 1
        started.set()
        await release.wait()
        return result

    return slow


# -- retry ---------------------------------------------------------------------------------------------
async def test_retry_reruns_the_failed_step_with_a_fresh_budget_and_keeps_completed_ones(
    make_app, catalog: Catalog
) -> None:
    calls: Counter[str] = Counter()
    broken = {"ship": True}

    @activity
    async def reserve(ctx: WorkflowContext, order: str) -> str:
        calls["reserve"] += 1
        return f"reserved {order}"

    @activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.0, jitter=0.0))
    async def ship(ctx: WorkflowContext, order: str) -> str:
        calls["ship"] += 1
        if broken["ship"]:
            raise ConnectionError("carrier down")
        return f"shipped {order} on attempt {ctx.attempt}"

    @workflow(catalog=catalog)
    async def fulfil(ctx: WorkflowContext, order: str) -> list[str]:
        return [await reserve(ctx, order), await ship(ctx, order)]

    app = await make_app()
    iid = await fulfil.start(order="o-1")
    with pytest.raises(WorkflowFailedError):
        await app.wait_result(iid, timeout=15)
    assert calls == Counter(reserve=1, ship=2)  # the whole budget of two attempts was used

    broken["ship"] = False  # the carrier is back
    assert await app.retry(iid, by="ops@example.com", reason="carrier fixed") is ControlOutcome.APPLIED
    # attempt 1 of a fresh budget: the two failed attempts are not counted against it
    assert await app.wait_result(iid, timeout=15) == ["reserved o-1", "shipped o-1 on attempt 1"]
    assert calls == Counter(reserve=1, ship=3)
    history = await app.get_history(iid)
    assert [(e.position, e.name, e.outcome) for e in history] == [
        (0, "reserve", StepOutcome.OK),
        (1, "ship", StepOutcome.OK),
    ]
    (entry,) = await app.control_log(iid)
    assert (entry.action, entry.by, entry.reason, entry.detail["position"]) == (
        ControlAction.RETRY,
        "ops@example.com",
        "carrier fixed",
        1,
    )
    # idempotent: the same retry again changes nothing and journals nothing
    assert await app.retry(iid, by="ops@example.com") is ControlOutcome.ALREADY_APPLIED
    assert len(await app.control_log(iid)) == 1
    assert calls == Counter(reserve=1, ship=3)


async def test_retry_after_a_bug_fix_in_the_workflow_body_continues_after_the_last_step(
    make_app, catalog: Catalog
) -> None:
    calls: Counter[str] = Counter()
    bug = {"on": True}

    @activity
    async def fetch(ctx: WorkflowContext) -> int:
        calls["fetch"] += 1
        return 41

    @activity
    async def store(ctx: WorkflowContext, value: int) -> int:
        calls["store"] += 1
        return value

    @workflow(catalog=catalog)
    async def pipeline(ctx: WorkflowContext) -> int:
        value = await fetch(ctx)
        if bug["on"]:
            raise ValueError("off by one")
        return await store(ctx, value + 1)

    app = await make_app()
    iid = await pipeline.start()
    with pytest.raises(WorkflowFailedError, match="off by one"):
        await app.wait_result(iid, timeout=15)
    bug["on"] = False  # deploy the fix
    assert await app.retry(iid) is ControlOutcome.APPLIED
    assert await app.wait_result(iid, timeout=15) == 42
    assert calls == Counter(fetch=1, store=1)
    (entry,) = await app.control_log(iid)
    assert entry.detail["position"] is None and entry.by == "api"


async def test_retry_is_refused_for_compensated_cancelled_running_and_unknown_instances(
    make_app, catalog: Catalog
) -> None:
    undone: list[str] = []

    async def unbook(ctx: WorkflowContext, what: str) -> None:
        undone.append(what)

    @activity
    @on_failure(unbook)
    async def book(ctx: WorkflowContext, what: str) -> str:
        return what

    @activity(retry_policy=ONCE)
    async def pay(ctx: WorkflowContext) -> None:
        raise TerminalError("card declined")

    @workflow(catalog=catalog)
    async def trip(ctx: WorkflowContext) -> None:
        await book(ctx, "hotel")
        await pay(ctx)

    @workflow(catalog=catalog)
    async def waits(ctx: WorkflowContext) -> str:
        return str((await wait_event(ctx, "go")).data)

    app = await make_app()
    compensated = await trip.start()
    with pytest.raises(WorkflowFailedError):
        await app.wait_result(compensated, timeout=15)
    assert undone == ["hotel"]
    with pytest.raises(RunControlError, match="compensations") as refused:
        await app.retry(compensated)
    assert (refused.value.action, refused.value.status) == ("retry", "failed")

    waiting = await waits.start()
    await _until(app, waiting, lambda r: r.status is InstanceStatus.WAITING and _released(r))
    with pytest.raises(RunControlError, match="not failed"):
        await app.retry(waiting)
    await app.cancel(waiting, reason="no longer needed")
    await _until(app, waiting, lambda r: r.status is InstanceStatus.CANCELLED)
    with pytest.raises(RunControlError, match="cancelled"):
        await app.retry(waiting)
    with pytest.raises(InstanceNotFoundError):
        await app.retry("no-such-instance")
    assert await app.control_log(compensated) == []  # refusals change and journal nothing


# -- fork ----------------------------------------------------------------------------------------------
async def test_fork_reruns_from_a_step_leaves_the_original_alone_and_forks_of_forks_work(
    make_app, catalog: Catalog
) -> None:
    calls: Counter[str] = Counter()

    @activity
    async def plan(ctx: WorkflowContext, goal: str) -> str:
        calls["plan"] += 1
        return f"plan for {goal}"

    @activity
    async def act(ctx: WorkflowContext, step: str) -> str:
        calls["act"] += 1
        return f"did {step}"

    @activity
    async def report(ctx: WorkflowContext, done: str) -> str:
        calls["report"] += 1
        return f"report: {done} #{calls['report']}"

    @workflow(catalog=catalog)
    async def agent(ctx: WorkflowContext, goal: str) -> str:
        return await report(ctx, await act(ctx, await plan(ctx, goal)))

    app = await make_app()
    original = await agent.start(goal="tidy up")
    assert await app.wait_result(original, timeout=15) == "report: did plan for tidy up #1"
    before = await app.get_history(original)

    fork = await app.fork(original, at="act", new_instance_id="fork-1", by="alice", reason="try again")
    assert await app.wait_result(fork, timeout=15) == "report: did plan for tidy up #2"
    assert calls == Counter(plan=1, act=2, report=2)  # plan was copied, act and report ran again
    record = await app.get_instance(fork)
    assert (record.forked_from, record.forked_at) == (original, 1)
    assert await app.get_history(original) == before  # the original is untouched
    assert [a.action for a in await app.control_log(original)] == [ControlAction.FORK]
    (origin,) = await app.control_log(fork)
    assert origin.detail == {"forked_from": original, "forked_at": 1} and origin.by == "alice"

    # the same fork again is a no-op returning the same id; the id reused otherwise is a conflict
    assert await app.fork(original, at=1, new_instance_id="fork-1") == "fork-1"
    assert calls == Counter(plan=1, act=2, report=2)

    # a fork of the fork, at a position, with other input: only the last step runs again
    second = await app.fork(fork, at=2, arguments={"goal": "tidy up"})
    assert await app.wait_result(second, timeout=15) == "report: did plan for tidy up #3"
    assert calls == Counter(plan=1, act=2, report=3)
    assert (await app.get_instance(second)).forked_from == fork

    with pytest.raises(RunControlError, match="no step named 'nope'"):
        await app.fork(original, at="nope")
    with pytest.raises(RunControlError, match="cannot fork at 9"):
        await app.fork(original, at=9)


# -- pause / unpause -----------------------------------------------------------------------------------
async def test_pause_during_an_activity_stops_at_the_next_step_and_keeps_events_until_unpause(
    make_app, catalog: Catalog
) -> None:
    calls: Counter[str] = Counter()
    started, release = asyncio.Event(), asyncio.Event()
    slow = _gated_activity(calls, started, release, "slow done")

    @activity
    async def after(ctx: WorkflowContext, value: str) -> str:
        calls["after"] += 1
        return value + " then after"

    @workflow(catalog=catalog)
    async def job(ctx: WorkflowContext) -> str:
        first = await slow(ctx)
        second = await after(ctx, first)
        event = await wait_event(ctx, "approved")
        return f"{second}, approved by {event.data['by']}"

    app = await make_app(lease_ttl=HELD)
    iid = await job.start()
    await asyncio.wait_for(started.wait(), 15)
    assert await app.pause(iid, by="bob", reason="investigating") is ControlOutcome.APPLIED
    assert (await app.get_instance(iid)).status is InstanceStatus.PAUSED  # at once, while slow() runs
    release.set()
    paused = await _until(app, iid, _released)
    assert paused.status is InstanceStatus.PAUSED and paused.paused
    assert [(e.name, e.outcome) for e in await app.get_history(iid)] == [("slow", StepOutcome.OK)]
    assert calls == Counter(slow=1)  # the step in flight finished and was recorded; nothing after it
    assert [r.instance_id for r in await app.list_instances(status=InstanceStatus.PAUSED)] == [iid]
    assert await app.list_instances(status=InstanceStatus.RUNNING) == []
    assert await app.pause(iid) is ControlOutcome.ALREADY_APPLIED

    await app.send_event("approved", "test", {"by": "carol"}, instance_id=iid)  # kept in the mailbox
    names = frozenset({"job"})
    now = app.clock.now()
    assert await app.storage.claim_runnable("someone", now, timedelta(seconds=5), 10, names) == []

    assert await app.unpause(iid, by="bob") is ControlOutcome.APPLIED
    assert await app.wait_result(iid, timeout=15) == "slow done then after, approved by carol"
    assert calls == Counter(slow=1, after=1)
    assert [(e.action, e.by) for e in await app.control_log(iid)] == [
        (ControlAction.PAUSE, "bob"),
        (ControlAction.UNPAUSE, "bob"),
    ]
    assert await app.unpause(iid) is ControlOutcome.ALREADY_APPLIED
    with pytest.raises(RunControlError, match="completed"):
        await app.pause(iid)


async def test_pausing_a_waiting_instance_only_marks_it_and_its_due_timer_fires_on_unpause(
    make_app, catalog: Catalog
) -> None:
    clock = FakeClock()
    calls: Counter[str] = Counter()

    @activity
    async def wake(ctx: WorkflowContext) -> str:
        calls["wake"] += 1
        return "woke"

    @workflow(catalog=catalog)
    async def nap(ctx: WorkflowContext) -> str:
        await sleep(ctx, 3600)
        return await wake(ctx)

    app = await make_app(clock=clock)
    iid = await nap.start()
    await _until(app, iid, lambda r: r.status is InstanceStatus.WAITING and _released(r))
    assert await app.pause(iid) is ControlOutcome.APPLIED
    assert (await app.get_instance(iid)).status is InstanceStatus.PAUSED
    clock.advance(7200)  # the timer falls due while paused: nobody may claim it
    names = frozenset({"nap"})
    assert await app.storage.claim_runnable("x", clock.now(), timedelta(seconds=5), 10, names) == []
    assert await app.storage.next_wake_at(names) is None
    assert calls == Counter()
    assert await app.unpause(iid) is ControlOutcome.APPLIED
    assert await app.wait_result(iid, timeout=15) == "woke"
    assert calls == Counter(wake=1)


# -- terminate -----------------------------------------------------------------------------------------
async def test_terminate_ends_waiting_and_blocked_instances_as_failed_without_compensations(
    make_app, catalog: Catalog
) -> None:
    undone: list[str] = []
    shape = {"v": 1}

    async def unbook(ctx: WorkflowContext) -> None:
        undone.append("unbooked")

    @activity
    @on_failure(unbook)
    async def book(ctx: WorkflowContext) -> str:
        return "booked"

    @activity
    async def other(ctx: WorkflowContext) -> str:
        return "other"

    @workflow(catalog=catalog)
    async def holds(ctx: WorkflowContext) -> str:
        await (book(ctx) if shape["v"] == 1 else other(ctx))
        return str((await wait_event(ctx, "go")).data)

    app = await make_app()
    waiting, blocked = await holds.start(), await holds.start()
    for iid in (waiting, blocked):
        await _until(app, iid, lambda r: r.status is InstanceStatus.WAITING and _released(r))
    shape["v"] = 2  # a deploy that changes an earlier step: the next replay blocks
    await app.send_event("go", "test", "x", instance_id=blocked)
    await _until(app, blocked, lambda r: r.status is InstanceStatus.BLOCKED)

    for iid in (waiting, blocked):
        assert await app.terminate(iid, "wedged", by="ops") is ControlOutcome.APPLIED
        with pytest.raises(WorkflowFailedError, match="terminated by ops: wedged") as failed:
            await app.wait_result(iid, timeout=15)
        assert failed.value.type_name == "durable_core.errors:WorkflowTerminatedError"
        assert await app.terminate(iid, "again", by="ops") is ControlOutcome.ALREADY_APPLIED
        (entry,) = await app.control_log(iid)
        assert (entry.action, entry.reason) == (ControlAction.TERMINATE, "wedged")
    assert undone == []  # no compensations
    assert [e.kind for e in await app.get_history(waiting)] == [StepKind.ACTIVITY]
    assert (await app.control_log(blocked))[0].detail["status"] == "blocked"

    done = await holds.start()
    await app.send_event("go", "test", "y", instance_id=done)
    assert await app.wait_result(done, timeout=15) == "y"
    with pytest.raises(RunControlError, match="already completed"):
        await app.terminate(done, "too late")


async def test_terminate_fences_out_the_worker_running_the_instance(make_app, catalog: Catalog) -> None:
    calls: Counter[str] = Counter()
    started, release = asyncio.Event(), asyncio.Event()
    slow = _gated_activity(calls, started, release, "finished anyway")

    @activity
    async def after(ctx: WorkflowContext) -> str:
        calls["after"] += 1
        return "never"

    @workflow(catalog=catalog)
    async def wedged(ctx: WorkflowContext) -> str:
        await slow(ctx)
        return await after(ctx)

    app = await make_app(lease_ttl=HELD)
    iid = await wedged.start()
    await asyncio.wait_for(started.wait(), 15)
    assert await app.terminate(iid, "stuck", by="ops") is ControlOutcome.APPLIED
    release.set()  # the activity in flight ends; its result must not be recorded
    await _eventually(lambda: _not_running(app, iid))
    record = await app.get_instance(iid)
    assert record.status is InstanceStatus.FAILED and record.error is not None
    assert "stuck" in record.error.message
    assert await app.get_history(iid) == []
    assert calls == Counter(slow=1)


async def test_retry_of_a_timed_out_run_gives_it_its_timeout_again(make_app, catalog: Catalog) -> None:
    clock = FakeClock()

    @activity
    async def finish(ctx: WorkflowContext) -> str:
        return "finished"

    @workflow(catalog=catalog, timeout=60)
    async def slowpoke(ctx: WorkflowContext) -> str:
        await sleep(ctx, 90)  # longer than the workflow's timeout
        return await finish(ctx)

    app = await make_app(clock=clock)
    iid = await slowpoke.start()
    await _until(app, iid, lambda r: r.status is InstanceStatus.WAITING and _released(r))
    clock.advance(61)
    with pytest.raises(WorkflowFailedError, match="deadline"):
        await app.wait_result(iid, timeout=15)
    clock.advance(30)  # the sleep's due time has passed meanwhile
    assert await app.retry(iid) is ControlOutcome.APPLIED
    record = await app.get_instance(iid)
    assert record.deadline_at == clock.now() + timedelta(seconds=60)
    assert await app.wait_result(iid, timeout=15) == "finished"
