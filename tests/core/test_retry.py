"""Retries with backoff on the injectable clock, terminal errors, exhaustion and error types on replay."""

from __future__ import annotations

import pytest

from durable_core import (
    Catalog,
    FakeClock,
    RetryExhaustedError,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    activity,
    workflow,
)

FAST = RetryPolicy(max_attempts=3, initial_interval=0.0, max_interval=0.0, jitter=0.0)


class PaymentDeclined(TerminalError):
    pass


async def test_backoff_waits_on_the_clock_then_succeeds(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    attempts: list[int] = []

    @activity(retry_policy=RetryPolicy(max_attempts=5, initial_interval=2.0, jitter=0.0))
    async def flaky(ctx: WorkflowContext) -> str:
        attempts.append(ctx.attempt)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> str:
        return await flaky(ctx)

    app = await make_app(clock=clock)
    iid = await wf.start()
    await clock.wait_for_sleepers(1)
    assert attempts == [1]
    clock.advance(1.9)  # not yet: first delay is 2 s
    assert clock.sleeper_count == 1
    clock.advance(0.1)
    await clock.wait_for_sleepers(1)
    assert attempts == [1, 2]
    clock.advance(4.0)  # second delay doubles
    assert await app.handle(iid).result(timeout=10) == "ok"
    assert attempts == [1, 2, 3]
    history = await app.get_history(iid)
    assert history[0].retry is not None and history[0].retry.total_attempts == 3
    assert [e.type_name for e in history[0].retry.errors] == ["builtins:ConnectionError"] * 2
    assert history[0].retry.delays_ms == (2000, 4000)  # the back-off before each retry, stored with it


async def test_terminal_error_is_not_retried_and_keeps_its_type_on_replay(make_app, catalog: Catalog) -> None:
    calls: list[str] = []
    seen: list[str] = []

    @activity(retry_policy=FAST)
    async def charge(ctx: WorkflowContext, amount: int) -> None:
        calls.append("charge")
        raise PaymentDeclined(f"declined {amount}")

    @activity
    async def after(ctx: WorkflowContext, what: str) -> str:
        return what

    @workflow(catalog=catalog)
    async def pay(ctx: WorkflowContext) -> str:
        try:
            await charge(ctx, 5)
        except PaymentDeclined as exc:
            seen.append(type(exc).__name__)
            return await after(ctx, str(exc))
        return "paid"

    app = await make_app()
    iid = await pay.start()
    assert await app.handle(iid).result(timeout=10) == "declined 5"
    assert calls == ["charge"]
    # Replay the stored history against the same code: the recorded error re-raises as PaymentDeclined.
    reports = await app.replay_check()
    assert [r.ok for r in reports] == [True]
    assert seen == ["PaymentDeclined", "PaymentDeclined"]


async def test_exhausted_retries_raise_retry_exhausted_with_cause(make_app, catalog: Catalog) -> None:
    @activity(retry_policy=FAST)
    async def always_fails(ctx: WorkflowContext) -> None:
        raise ValueError("boom")

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> str:
        try:
            await always_fails(ctx)
        except RetryExhaustedError as exc:
            assert isinstance(exc.__cause__, ValueError)
            return f"{exc.attempts}:{exc.last_error_type}"
        return "unreachable"

    app = await make_app()
    iid = await wf.start()
    assert await app.handle(iid).result(timeout=10) == "3:builtins:ValueError"
    entry = (await app.get_history(iid))[0]
    assert entry.retry is not None and entry.retry.exhausted and entry.retry.total_attempts == 3


async def test_non_retryable_types_and_activity_timeout(make_app, catalog: Catalog) -> None:
    import asyncio

    from durable_core import ActivityTimeoutError

    count = {"slow": 0, "bad": 0}

    @activity(
        retry_policy=RetryPolicy(
            max_attempts=3, initial_interval=0, max_interval=0, non_retryable_error_types=(LookupError,)
        )
    )
    async def bad(ctx: WorkflowContext) -> None:
        count["bad"] += 1
        raise KeyError("k")

    @activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0, max_interval=0), timeout=0.05)
    async def slow(ctx: WorkflowContext) -> None:
        count["slow"] += 1
        await asyncio.Event().wait()

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> list[str]:
        out = []
        try:
            await bad(ctx)
        except KeyError:
            out.append("key")
        try:
            await slow(ctx)
        except RetryExhaustedError as exc:
            out.append(type(exc.__cause__).__name__)
        return out

    app = await make_app()
    assert await app.handle(await wf.start()).result(timeout=10) == ["key", ActivityTimeoutError.__name__]
    assert count == {"slow": 2, "bad": 1}


async def test_sync_activity_runs_in_a_thread(make_app, catalog: Catalog) -> None:
    import threading

    main = threading.get_ident()

    @activity
    def blocking(ctx: WorkflowContext, x: int) -> dict[str, int]:
        return {"x": x * 2, "other_thread": int(threading.get_ident() != main)}

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> dict[str, int]:
        return await blocking(ctx, 21)

    app = await make_app()
    assert await app.handle(await wf.start()).result(timeout=10) == {"x": 42, "other_thread": 1}


def test_retry_policy_rejects_nonsense() -> None:
    from durable_core import ConfigurationError

    with pytest.raises(ConfigurationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError, match="jitter"):
        RetryPolicy(jitter=2)
