"""Retries: backoff policies, TerminalError, RetryExhaustedError and activity timeouts."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from durable_core import (
    ActivityTimeoutError,
    EddaApp,
    RetryExhaustedError,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    activity,
    workflow,
)

# Short delays keep the example fast; the defaults are 5 attempts, 1 s doubling up to 60 s, +/-10 % jitter.
QUICK = RetryPolicy(max_attempts=3, initial_interval=0.01, max_interval=0.05)


class CardDeclined(TerminalError):
    """A business error: retrying cannot help, so it fails the activity at once."""


@activity  # uses the app's default_retry_policy
async def fetch_rate(ctx: WorkflowContext, currency: str) -> float:
    print(f"  fetch_rate attempt {ctx.attempt}")
    if ctx.attempt < 3:
        raise ConnectionError("rate service unavailable")
    return 1.25


@activity(retry_policy=QUICK)
async def charge(ctx: WorkflowContext, amount: float) -> str:
    print(f"  charge attempt {ctx.attempt}")
    raise CardDeclined(f"card declined for {amount:.2f}")


@activity(retry_policy=QUICK)
async def notify(ctx: WorkflowContext, message: str) -> None:
    print(f"  notify attempt {ctx.attempt}")
    raise OSError("mail server down")


@activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.01), timeout=0.1)
async def slow_report(ctx: WorkflowContext) -> str:
    print(f"  slow_report attempt {ctx.attempt}")
    await asyncio.sleep(10)  # longer than the 0.1 s timeout of each attempt
    return "report"


@workflow
async def checkout(ctx: WorkflowContext, amount: float) -> list[str]:
    outcome = [f"rate {await fetch_rate(ctx, 'EUR')}"]
    try:
        await charge(ctx, amount)
    except CardDeclined as exc:  # the same type is raised again when the workflow is replayed
        outcome.append(f"terminal: {exc}")
    try:
        await notify(ctx, "order failed")
    except RetryExhaustedError as exc:
        outcome.append(f"exhausted after {exc.attempts} attempts, last error {exc.last_error_type}")
    try:
        await slow_report(ctx)
    except RetryExhaustedError as exc:
        outcome.append(f"timed out: {type(exc.__cause__).__name__}")
    return outcome


async def main() -> None:
    print("default delays without jitter:", [RetryPolicy(jitter=0).delay_before(n) for n in range(1, 5)])
    with tempfile.TemporaryDirectory() as tmp:
        app = EddaApp(
            f"sqlite:///{Path(tmp) / 'retries.db'}",
            default_retry_policy=RetryPolicy(max_attempts=4, initial_interval=0.01, max_interval=0.1),
        )
        async with app:
            instance_id = await checkout.start(amount=42.0)
            outcome = await app.handle(instance_id).result(timeout=10)
            for line in outcome:
                print(line)
            # Replaying the stored history re-raises CardDeclined, so the same except branch is taken.
            assert all(report.ok for report in await app.replay_check())
            rate_step = (await app.get_history(instance_id))[0]
            assert rate_step.retry is not None
            print(
                f"fetch_rate history: {rate_step.retry.total_attempts} attempts, errors:",
                [error.message for error in rate_step.retry.errors],
            )
    assert outcome == [
        "rate 1.25",
        "terminal: card declined for 42.00",
        "exhausted after 3 attempts, last error builtins:OSError",
        f"timed out: {ActivityTimeoutError.__name__}",
    ]
    print("OK: every failure was handled as its policy says")


if __name__ == "__main__":
    asyncio.run(main())
