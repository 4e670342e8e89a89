"""Durable timers: ``await sleep(ctx, seconds)`` and ``await sleep_until(ctx, when)``.

A workflow that sleeps does not hold a worker or memory while it waits: the instance is stored as
WAITING with its wake-up time, and any process serving the workflow resumes it when it is due (by
replaying it to the timer, which is then recorded as fired).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from durable_core.authoring.context import WorkflowContext
from durable_core.errors import ApiMisuseError, ContextArgumentError

__all__ = ["sleep", "sleep_until"]

_DEFAULT_NAME = "sleep"


def _check_context(ctx: object, what: str) -> WorkflowContext:
    if not isinstance(ctx, WorkflowContext):
        raise ContextArgumentError(
            f"{what}() needs the WorkflowContext as first argument, got {type(ctx).__name__}: "
            f"call it in a @workflow as `await {what}(ctx, ...)`"
        )
    if ctx.in_activity:
        raise ApiMisuseError(
            f"{what}() is for workflow bodies, not activities: a durable timer suspends the whole workflow; "
            "inside an activity use asyncio.sleep, or return and sleep in the workflow"
        )
    return ctx


def _check_name(name: object) -> str:
    if name is None:
        return _DEFAULT_NAME
    if not isinstance(name, str) or not name:
        raise ValueError(f"timer name must be a non-empty str, got {name!r}")
    return name


async def sleep(ctx: WorkflowContext, seconds: float, *, name: str | None = None) -> None:
    """Durably sleep for ``seconds`` (the instance waits in the database, not in memory).

    The due time is computed from a durable ``ctx.now()``, so it is the same on every replay.

    Args:
        ctx: the workflow's context.
        seconds: how long to wait (>= 0, finite).
        name: recorded in history (default ``"sleep"``); keep it stable across deploys.

    Raises:
        ValueError: ``seconds`` is negative, not finite, or not a number.
        ApiMisuseError: called inside an activity.
    """
    ctx = _check_context(ctx, "sleep")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"sleep() takes a number of seconds, got {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"sleep() takes a finite number of seconds >= 0, got {seconds!r}")
    timer_name = _check_name(name)
    due = ctx.now() + timedelta(seconds=seconds)
    runtime = ctx._runtime
    await runtime.wait_timer(runtime.next_position(), due, timer_name)


async def sleep_until(ctx: WorkflowContext, when: datetime, *, name: str | None = None) -> None:
    """Durably sleep until ``when`` (returns at once, recording the timer, when it is already past).

    Args:
        ctx: the workflow's context.
        when: an aware datetime; compute it deterministically (e.g. from ``ctx.now()`` or the input).
        name: recorded in history (default ``"sleep"``); keep it stable across deploys.

    Raises:
        ValueError: ``when`` is not a datetime or is naive (no time zone).
        ApiMisuseError: called inside an activity.
    """
    ctx = _check_context(ctx, "sleep_until")
    if not isinstance(when, datetime):
        raise ValueError(f"sleep_until() takes a datetime, got {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            f"sleep_until() needs an aware datetime (with a time zone), got the naive {when!r}; "
            "use e.g. datetime(..., tzinfo=UTC)"
        )
    timer_name = _check_name(name)
    runtime = ctx._runtime
    await runtime.wait_timer(runtime.next_position(), when.astimezone(UTC), timer_name)
