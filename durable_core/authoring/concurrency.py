"""Durable concurrency for waits: the first of several, or all of them.

``await wait_first(ctx, on_event("paid"), on_message("cancel"), on_timer(3600))`` returns as soon as any
alternative happens, with its index and value; ``await wait_all(ctx, on_event("a"), on_event("b"))``
collects every one. Both register all alternatives at once (so an event by type is not missed while
another alternative is being waited for) and record each arrival at its own history position, so replay
is deterministic. Activities run concurrently with plain ``asyncio.gather``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from durable_core.authoring.channels import received_message
from durable_core.authoring.children import ChildHandle, child_result
from durable_core.authoring.context import WorkflowContext
from durable_core.authoring.events import due_after, received_event, workflow_body_context
from durable_core.authoring.runtime import TIMED_OUT, WaitResult, WaitSpec
from durable_core.errors import EventTimeoutError
from durable_core.types import JsonValue, WaitKey, WaitKind

__all__ = [
    "FirstResult",
    "Waitable",
    "on_child",
    "on_event",
    "on_message",
    "on_timer",
    "wait_all",
    "wait_first",
]


@dataclass(frozen=True, slots=True)
class Waitable:
    """One alternative of ``wait_first`` / ``wait_all`` (build it with ``on_event`` etc.)."""

    key: WaitKey | None  # None: a timer
    model: type[BaseModel] | None = None
    seconds: float | None = None
    child: ChildHandle | None = None

    def describe(self) -> str:
        """Recorded in the wait's history name."""
        return f"timer:{self.seconds}" if self.key is None else self.key.token


def on_event(event_type: str, model: type[BaseModel] | None = None) -> Waitable:
    """An event of ``event_type`` (value: ``ReceivedEvent``)."""
    return Waitable(WaitKey(WaitKind.EVENT, event_type), model)


def on_message(channel: str, model: type[BaseModel] | None = None) -> Waitable:
    """A message on ``channel`` (value: ``ReceivedMessage``)."""
    return Waitable(WaitKey(WaitKind.MESSAGE, channel), model)


def on_child(handle: ChildHandle) -> Waitable:
    """The end of a child workflow (value: its result; a failed child raises ``ChildWorkflowError``)."""
    return Waitable(handle.wait_key, child=handle)


def on_timer(seconds: float) -> Waitable:
    """A durable timer of ``seconds`` from now (value: None)."""
    raw: object = seconds
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise ValueError(f"on_timer() takes a number of seconds >= 0, got {seconds!r}")
    return Waitable(None, seconds=float(seconds))


@dataclass(frozen=True, slots=True)
class FirstResult:
    """What ``wait_first`` returns: which alternative happened first, and its value."""

    index: int
    value: Any


def _value(waitable: Waitable, result: WaitResult) -> Any:
    key = waitable.key
    if key is None:
        return None
    if key.kind is WaitKind.EVENT:
        return received_event(result, waitable.model, key.name)
    if key.kind is WaitKind.MESSAGE:
        return received_message(result, waitable.model, key.name)
    assert waitable.child is not None
    return child_result(waitable.child, result)


def _check(waits: tuple[Waitable, ...], what: str) -> None:
    if not waits:
        raise ValueError(f"{what}() needs at least one alternative")
    for waitable in waits:
        if not isinstance(waitable, Waitable):
            raise TypeError(f"{what}() takes on_event/on_message/on_child/on_timer values, got {waitable!r}")
    keys = [w.key for w in waits if w.key is not None]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{what}() got the same event type / channel / child twice")


async def _wait_once(
    ctx: WorkflowContext,
    waits: list[tuple[int, Waitable]],
    due: datetime | None,
    timer_due: dict[int, datetime],
    *,
    retain: bool = False,
) -> tuple[int, WaitResult]:
    """Wait for the first of ``waits`` (original indexes); return (original index, result).

    With ``retain``, the other alternatives stay registered after one happens (``wait_all``).
    """
    keys = tuple(w.key for _, w in waits if w.key is not None)
    timers = [(i, timer_due[i]) for i, w in waits if w.key is None]
    earliest_timer = min(timers, key=lambda t: t[1]) if timers else None
    deadline = due
    if earliest_timer is not None and (deadline is None or earliest_timer[1] <= deadline):
        deadline = earliest_timer[1]
    schemas: list[tuple[str, JsonValue]] = [
        (w.key.name, w.model.model_json_schema())
        for _, w in waits
        if w.key is not None and w.key.kind is WaitKind.EVENT and w.model is not None
    ]
    name = "wait:" + "|".join(w.describe() for _, w in waits)
    runtime = ctx._runtime
    spec = WaitSpec(name, keys, deadline, tuple(schemas), keys if retain else ())
    result = await runtime.wait_for(runtime.next_position(), spec)
    if result.index == TIMED_OUT:
        if earliest_timer is not None and earliest_timer[1] == deadline:
            return earliest_timer[0], result
        return TIMED_OUT, result
    key = keys[result.index]
    original = next(i for i, w in waits if w.key == key)
    return original, result


def _timer_dues(ctx: WorkflowContext, waits: tuple[Waitable, ...]) -> dict[int, datetime]:
    if not any(w.key is None for w in waits):
        return {}
    now = ctx.now()
    return {i: now + timedelta(seconds=w.seconds or 0.0) for i, w in enumerate(waits) if w.key is None}


async def wait_first(
    ctx: WorkflowContext, *waits: Waitable, timeout_seconds: float | None = None
) -> FirstResult:
    """Wait durably until the first of ``waits`` happens.

    Raises:
        EventTimeoutError: ``timeout_seconds`` passed before any alternative happened.
    """
    ctx = workflow_body_context(ctx, "wait_first")
    _check(waits, "wait_first")
    due = due_after(ctx, timeout_seconds, "wait_first")
    timer_due = _timer_dues(ctx, waits)
    index, result = await _wait_once(ctx, list(enumerate(waits)), due, timer_due)
    if index == TIMED_OUT:
        raise EventTimeoutError(f"none of {len(waits)} alternatives happened within {timeout_seconds} s")
    return FirstResult(index, _value(waits[index], result))


async def wait_all(ctx: WorkflowContext, *waits: Waitable, timeout_seconds: float | None = None) -> list[Any]:
    """Wait durably until every one of ``waits`` happened; return their values in argument order.

    Raises:
        EventTimeoutError: ``timeout_seconds`` passed before all of them happened.
    """
    ctx = workflow_body_context(ctx, "wait_all")
    _check(waits, "wait_all")
    due = due_after(ctx, timeout_seconds, "wait_all")
    timer_due = _timer_dues(ctx, waits)
    remaining = list(enumerate(waits))
    values: dict[int, Any] = {}
    while remaining:
        index, result = await _wait_once(ctx, remaining, due, timer_due, retain=len(remaining) > 1)
        if index == TIMED_OUT:
            raise EventTimeoutError(
                f"{len(remaining)} of {len(waits)} alternatives had not happened within {timeout_seconds} s"
            )
        values[index] = _value(waits[index], result)
        remaining = [(i, w) for i, w in remaining if i != index]
    return [values[i] for i in range(len(waits))]
