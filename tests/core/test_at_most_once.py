"""At-most-once activities in one process: the attempt-started mark, the idempotency key, operator answers.

An attempt is interrupted here by shutting its app down mid-attempt (the lease is released, the mark
stays); SIGKILL of a real process is in ``tests/crash/test_crash_at_most_once.py``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest

from durable_core import (
    ApiMisuseError,
    Catalog,
    ConfigurationError,
    DidNotHappen,
    EddaApp,
    FakeClock,
    Happened,
    InputValidationError,
    InstanceNotFoundError,
    InstanceStatus,
    NoUnknownOutcomeError,
    RetryPolicy,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    workflow,
)
from durable_core.authoring.at_most_once import step_key

RETRY_ONCE = RetryPolicy(max_attempts=2, initial_interval=1.0, jitter=0.0)


def _count_attempt_writes(app: EddaApp) -> list[int]:
    """Positions of every ``record_attempt`` statement the app's engine makes from now on."""
    positions: list[int] = []
    original = app.storage.record_attempt

    async def spy(lease: Any, position: int, attempts: int, last_error: Any) -> Any:
        positions.append(position)
        return await original(lease, position, attempts, last_error)

    app.storage.record_attempt = spy  # type: ignore[method-assign]
    return positions


async def test_only_at_most_once_activities_pay_the_started_mark(make_app, catalog: Catalog) -> None:
    @activity
    async def plain(ctx: WorkflowContext) -> str:
        return "plain"

    @activity(at_most_once=True)
    async def once(ctx: WorkflowContext) -> str:
        return "once"

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> list[str]:
        return [await plain(ctx), await plain(ctx), await once(ctx)]

    app = await make_app()
    writes = _count_attempt_writes(app)
    iid = await wf.start()
    assert await app.handle(iid).result(timeout=10) == ["plain", "plain", "once"]
    assert writes == [2]  # one statement, for the at-most-once step only


async def test_the_key_is_stable_across_retries_and_distinct_per_step(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    keys: list[tuple[int, str]] = []

    @activity(retry_policy=RETRY_ONCE, at_most_once=True)
    async def charge(ctx: WorkflowContext, fail_first: bool) -> str:
        keys.append((ctx.attempt, ctx.step_idempotency_key()))
        if fail_first and ctx.attempt == 1:
            raise ConnectionError("provider timeout: the request surely failed")
        return "ok"

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> list[str]:
        return [await charge(ctx, True), await charge(ctx, False)]

    app = await make_app(clock=clock)
    writes = _count_attempt_writes(app)
    iid = await wf.start()
    await clock.wait_for_sleepers(1)
    clock.advance(1.0)
    assert await app.handle(iid).result(timeout=10) == ["ok", "ok"]
    assert [attempt for attempt, _ in keys] == [1, 2, 1]
    assert keys[0][1] == keys[1][1] == step_key(iid, 0)
    assert keys[2][1] == step_key(iid, 1) != keys[0][1]
    assert step_key(iid, 0) != step_key("other", 0) and len(keys[0][1]) == 32
    assert writes == [0, 0, 0, 1]  # mark 1, failed attempt 1 (overwrites the mark), mark 2, mark of step 2


async def test_the_key_is_refused_in_a_workflow_body(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> str:
        return ctx.step_idempotency_key()

    app = await make_app()
    iid = await wf.start()
    with pytest.raises(WorkflowFailedError, match="call it inside an activity") as failed:
        await app.handle(iid).result(timeout=10)
    assert isinstance(failed.value.__cause__, ApiMisuseError)


def test_reconcile_needs_at_most_once() -> None:
    async def check(ctx: WorkflowContext) -> Happened:
        return Happened(None)

    with pytest.raises(ConfigurationError, match="only applies to at_most_once"):

        @activity(reconcile=check)
        async def act(ctx: WorkflowContext) -> None:
            return None


async def _interrupted(
    make_app: Callable[..., Any], catalog: Catalog, reconcile: Callable[..., Any] | None
) -> tuple[EddaApp, str, list[int]]:
    """An instance whose at-most-once step was interrupted; returns the recovering app, id and attempts."""
    attempts: list[int] = []
    entered = asyncio.Event()
    forever = asyncio.Event()

    @activity(at_most_once=True, reconcile=reconcile, name="charge")
    async def charge(ctx: WorkflowContext, amount: int) -> str:
        attempts.append(ctx.attempt)
        if len(attempts) == 1:
            entered.set()
            await forever.wait()  # interrupted here: its app shuts down mid-attempt
        return f"charged {amount}"

    @activity(at_most_once=True)
    async def quote(ctx: WorkflowContext, amount: int) -> int:
        return amount  # completes: its row keeps a stale started mark, which must be told apart

    @workflow(catalog=catalog)
    async def pay(ctx: WorkflowContext, amount: int) -> str:
        return await charge(ctx, await quote(ctx, amount))

    first = await make_app(shutdown_timeout=0.1)
    iid = await pay.start(amount=5)
    await asyncio.wait_for(entered.wait(), 10)
    await first.shutdown()
    return await make_app(), iid, attempts


async def _wait_status(app: EddaApp, iid: str, status: InstanceStatus) -> None:
    for _ in range(200):
        if (await app.get_instance(iid)).status is status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{iid} never became {status.value}: {await app.get_instance(iid)}")


async def test_an_interrupted_attempt_waits_for_an_answer_and_bad_answers_store_nothing(
    make_app, catalog: Catalog
) -> None:
    app, iid, attempts = await _interrupted(make_app, catalog, None)
    await _wait_status(app, iid, InstanceStatus.OUTCOME_UNKNOWN)
    assert attempts == [1]
    assert await app.handle(iid).status() is InstanceStatus.OUTCOME_UNKNOWN
    assert (await app.handle(iid).progress()).current_step == "charge (outcome unknown)"
    with pytest.raises(InputValidationError, match="result goes only with happened=True"):
        await app.resolve_unknown(iid, happened=False, result="x")
    with pytest.raises(InputValidationError, match="NaN"):
        await app.resolve_unknown(iid, happened=True, result={"amount": math.nan})
    with pytest.raises(InputValidationError, match="answered_by"):
        await app.resolve_unknown(iid, happened=True, answered_by="")
    with pytest.raises(InstanceNotFoundError):
        await app.resolve_unknown("no-such-instance", happened=True)
    assert (await app.get_instance(iid)).status is InstanceStatus.OUTCOME_UNKNOWN
    await app.resolve_unknown(iid, happened=False)
    assert await app.handle(iid).result(timeout=10) == "charged 5"
    assert attempts == [1, 2]
    with pytest.raises(NoUnknownOutcomeError, match="completed"):
        await app.resolve_unknown(iid, happened=True)


async def test_reconcile_sees_the_arguments_and_can_record_a_result(make_app, catalog: Catalog) -> None:
    seen: list[tuple[int, str]] = []

    async def reconcile(ctx: WorkflowContext, amount: int) -> Happened | DidNotHappen:
        seen.append((amount, ctx.step_idempotency_key()))
        return Happened(f"found charge of {amount}")

    app, iid, attempts = await _interrupted(make_app, catalog, reconcile)
    assert await app.handle(iid).result(timeout=10) == "found charge of 5"
    assert attempts == [1]
    assert seen == [(5, step_key(iid, 1))]


async def test_a_failing_reconcile_leaves_it_to_the_operator(make_app, catalog: Catalog) -> None:
    def reconcile(ctx: WorkflowContext, amount: int) -> Happened:
        raise ConnectionError("provider down")

    app, iid, attempts = await _interrupted(make_app, catalog, reconcile)
    await _wait_status(app, iid, InstanceStatus.OUTCOME_UNKNOWN)
    reason = (await app.get_instance(iid)).blocked_reason or ""
    assert "reconcile raised ConnectionError: provider down" in reason
    await app.resolve_unknown(iid, happened=True, result="charged by hand")
    assert await app.handle(iid).result(timeout=10) == "charged by hand"
    assert attempts == [1]


async def test_cancelling_an_outcome_unknown_instance_ends_it(make_app, catalog: Catalog) -> None:
    app, iid, attempts = await _interrupted(make_app, catalog, None)
    await _wait_status(app, iid, InstanceStatus.OUTCOME_UNKNOWN)
    await app.cancel(iid, reason="refunded by hand")
    await _wait_status(app, iid, InstanceStatus.CANCELLED)
    assert attempts == [1]


async def test_each_answer_goes_to_the_step_it_was_asked_about(make_app, catalog: Catalog) -> None:
    """Two at-most-once steps interrupted in one ``gather``: each answer lands on the step named."""
    entered: list[str] = []
    both_in = asyncio.Event()
    first_app_stopped = asyncio.Event()

    @activity(at_most_once=True)
    async def notify(ctx: WorkflowContext, who: str) -> str:
        if not first_app_stopped.is_set():
            entered.append(who)
            if len(entered) == 2:
                both_in.set()
            await asyncio.Event().wait()
        return f"notified {who} again"

    @workflow(catalog=catalog)
    async def fan_out(ctx: WorkflowContext) -> list[str]:
        return list(await asyncio.gather(notify(ctx, "ann"), notify(ctx, "bob")))

    first = await make_app(shutdown_timeout=0.1)
    iid = await fan_out.start()
    await asyncio.wait_for(both_in.wait(), 10)
    await first.shutdown()
    first_app_stopped.set()
    app = await make_app()
    answers: dict[int, str] = {}
    for _ in range(2):
        await _wait_status(app, iid, InstanceStatus.OUTCOME_UNKNOWN)
        reason = (await app.get_instance(iid)).blocked_reason or ""
        position = 0 if "(position 0)" in reason else 1
        assert position not in answers, reason
        answers[position] = f"sent to {'ann' if position == 0 else 'bob'} before the crash"
        await app.resolve_unknown(iid, happened=True, result=answers[position])
    assert await app.handle(iid).result(timeout=10) == [answers[0], answers[1]]
