"""Author mistakes fail at once with a message saying what to do: un-awaited activity calls, durable API
calls in the wrong place (terminal, never retried), workflows and activities called like functions."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from durable_core import (
    ApiMisuseError,
    Catalog,
    ContextArgumentError,
    FakeClock,
    InstanceStatus,
    StepKind,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    sleep,
    wait_event,
    workflow,
)
from durable_core.replay.unawaited import IssuedCall, IssuedCalls


def _line_of(marker: str) -> int:
    """The 1-based line of this file that ends with ``marker`` (so the test hard-codes no line number)."""
    lines = Path(__file__).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.endswith(f"# {marker}"))


async def _wait_parked(app, iid: str) -> None:
    """Wait (bounded) until the instance is stored as WAITING and no run of this process holds it."""
    async with asyncio.timeout(10):
        while True:
            record = await app.get_instance(iid)
            if record.status is InstanceStatus.WAITING and iid not in app._dispatcher.running:
                break
            await asyncio.sleep(0.01)  # re-read the row; bounded by the timeout above


async def _failure(app, iid: str) -> WorkflowFailedError:
    with pytest.raises(WorkflowFailedError) as info:
        await app.handle(iid).result(timeout=10)
    return info.value


async def test_an_activity_called_without_await_fails_the_run_naming_it_and_the_line(
    make_app, catalog: Catalog
) -> None:
    ran: list[str] = []

    @activity
    async def notify(ctx: WorkflowContext, who: str) -> None:
        ran.append(who)

    @activity
    async def charge(ctx: WorkflowContext) -> str:
        ran.append("charge")
        return "paid"

    @workflow(catalog=catalog)
    async def forgetful(ctx: WorkflowContext) -> str:
        notify(ctx, "customer")  # type: ignore[unused-coroutine]  # MISSING-AWAIT
        return await charge(ctx)

    app = await make_app()
    iid = await forgetful.start()
    error = await _failure(app, iid)
    assert error.type_name == "durable_core.errors:UnawaitedActivityError"
    assert "notify" in str(error)
    assert f"{__file__}:{_line_of('MISSING-AWAIT')}" in str(error)
    assert "await notify(ctx, ...)" in str(error)
    assert ran == ["charge"]  # the forgotten call never ran
    record = await app.get_instance(iid)
    assert record.status is InstanceStatus.FAILED
    assert record.error is not None and record.error.type_name.endswith("UnawaitedActivityError")


async def test_gathered_and_late_awaited_calls_are_not_mistakes(make_app, catalog: Catalog) -> None:
    @activity
    async def price(ctx: WorkflowContext, sku: str) -> int:
        return len(sku)

    @workflow(catalog=catalog)
    async def shop(ctx: WorkflowContext) -> int:
        later = price(ctx, "abc")  # created first, awaited after another step
        both = await asyncio.gather(price(ctx, "a"), price(ctx, "ab"))
        return sum(both) + await later

    app = await make_app()
    assert await app.handle(await shop.start()).result(timeout=10) == 6


async def test_a_fire_and_forget_task_of_an_activity_is_reported_and_never_runs(
    make_app, catalog: Catalog
) -> None:
    ran: list[str] = []
    tasks: list[asyncio.Task[None]] = []

    @activity
    async def audit(ctx: WorkflowContext) -> None:
        ran.append("audit")

    @workflow(catalog=catalog)
    async def detached(ctx: WorkflowContext) -> str:
        tasks.append(asyncio.ensure_future(audit(ctx)))
        return "done"

    app = await make_app()
    error = await _failure(app, await detached.start())
    assert "audit" in str(error)
    assert tasks[0].cancelled()
    assert ran == []


async def test_an_unawaited_call_before_a_timer_is_reported_when_the_run_returns(
    make_app, catalog: Catalog
) -> None:
    clock = FakeClock()

    @activity
    async def remind(ctx: WorkflowContext) -> None:
        return None

    @workflow(catalog=catalog)
    async def waits(ctx: WorkflowContext) -> str:
        remind(ctx)  # type: ignore[unused-coroutine]
        await sleep(ctx, 60)
        return "done"

    app = await make_app(clock=clock)
    iid = await waits.start()
    await _wait_parked(app, iid)
    clock.advance(61)
    error = await _failure(app, iid)
    assert error.type_name == "durable_core.errors:UnawaitedActivityError"
    assert "remind" in str(error)


async def test_ctx_now_in_an_activity_is_terminal_at_once(make_app, catalog: Catalog) -> None:
    clock = FakeClock()  # a retry would sleep on this clock, which never advances: the result would not come
    attempts: list[int] = []

    @activity
    async def stamp(ctx: WorkflowContext) -> str:
        attempts.append(ctx.attempt)
        return ctx.now().isoformat()

    @workflow(catalog=catalog)
    async def stamped(ctx: WorkflowContext) -> str:
        return await stamp(ctx)

    app = await make_app(clock=clock)
    iid = await stamped.start()
    error = await _failure(app, iid)
    assert attempts == [1]
    assert error.type_name == "durable_core.errors:ApiMisuseError"
    assert "datetime.now(UTC)" in str(error)
    history = await app.get_history(iid)
    assert [e.kind for e in history] == [StepKind.ACTIVITY]
    assert history[0].retry is not None
    assert (history[0].retry.total_attempts, history[0].retry.exhausted) == (1, False)


@pytest.mark.parametrize("misuse", ["sleep", "wait_event", "uuid", "activity-without-ctx"])
async def test_durable_calls_inside_an_activity_are_terminal_with_advice(
    make_app, catalog: Catalog, misuse: str
) -> None:
    clock = FakeClock()
    attempts: list[int] = []

    @activity
    async def inner(ctx: WorkflowContext) -> None:
        return None

    @activity
    async def confused(ctx: WorkflowContext) -> None:
        attempts.append(ctx.attempt)
        if misuse == "sleep":
            await sleep(ctx, 1)
        elif misuse == "wait_event":
            await wait_event(ctx, "approved")
        elif misuse == "uuid":
            ctx.uuid()
        else:
            await inner(None)  # type: ignore[arg-type]

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> None:
        await confused(ctx)

    app = await make_app(clock=clock)
    error = await _failure(app, await wf.start())
    assert attempts == [1]
    advice = {
        "sleep": "asyncio.sleep",
        "wait_event": "call it in the workflow",
        "uuid": "uuid.uuid4()",
        "activity-without-ctx": "WorkflowContext as first argument",
    }[misuse]
    assert advice in str(error)


async def test_ctx_session_in_a_workflow_body_fails_saying_where_writes_go(
    make_app, catalog: Catalog
) -> None:
    @workflow(catalog=catalog)
    async def writes(ctx: WorkflowContext) -> None:
        ctx.session  # noqa: B018

    app = await make_app()
    error = await _failure(app, await writes.start())
    assert error.type_name == "durable_core.errors:ApiMisuseError"
    assert "move the database writes into an activity" in str(error)


async def test_activities_and_workflows_called_like_functions_say_what_to_call() -> None:
    catalog = Catalog()

    @activity
    async def reserve(ctx: WorkflowContext, sku: str) -> str:
        return sku

    @workflow(catalog=catalog)
    async def order(ctx: WorkflowContext, sku: str) -> str:
        return await reserve(ctx, sku)

    with pytest.raises(TypeError) as info:  # still a TypeError, as before
        reserve(None, "sku-1")  # type: ignore[arg-type,unused-coroutine]
    assert isinstance(info.value, ContextArgumentError)
    assert "reserve.fn(...)" in str(info.value)
    with pytest.raises(ApiMisuseError) as called:
        order(None, "sku-1")
    assert "await order.start(...)" in str(called.value)
    assert "run_child(ctx, order, ...)" in str(called.value)


async def test_issued_calls_report_only_the_unstarted_and_close_them() -> None:
    async def step() -> None:
        return None

    issued = IssuedCalls()
    calls = [step() for _ in range(300)]
    for position, call in enumerate(calls):
        issued.add(IssuedCall(call, "step", position, f"here.py:{position}"))
    for call in calls[:-1]:
        await call  # awaited (started) calls are never reported
    unawaited = issued.take_unawaited()
    assert [(c.position, c.location) for c in unawaited] == [(299, "here.py:299")]
    assert inspect.getcoroutinestate(calls[-1]) == inspect.CORO_CLOSED  # closed: no "never awaited" warning
