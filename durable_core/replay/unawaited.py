"""Activity calls a workflow made but never awaited (an author's mistake that would leave a silent gap).

An activity call takes its history position when it is made and returns a coroutine; without ``await``
that coroutine never runs, the position stays empty and the workflow would complete as if the step had
happened. The session remembers each call until its coroutine starts; when the body returns, any call
still unstarted is reported (and closed, so Python does not also warn "coroutine was never awaited").
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from durable_core.errors import UnawaitedActivityError


@dataclass(frozen=True, slots=True)
class IssuedCall:
    """One activity call: its coroutine, name, history position and where in the source it was made."""

    call: Coroutine[Any, Any, Any]
    name: str
    position: int
    location: str

    @property
    def started(self) -> bool:
        """True once the coroutine ran (or was closed): it was awaited or handed to a task that ran it."""
        return inspect.getcoroutinestate(self.call) != inspect.CORO_CREATED


class IssuedCalls:
    """The activity calls of one run whose coroutines have not started yet."""

    _MIN_PRUNE = 64

    def __init__(self) -> None:
        self._pending: list[IssuedCall] = []
        self._prune_at = self._MIN_PRUNE

    def add(self, call: IssuedCall) -> None:
        """Remember ``call``; now and then forget the calls that started meanwhile.

        Pruning when the list doubled keeps each call O(1) amortized, even for a gather of thousands.
        """
        self._pending.append(call)
        if len(self._pending) >= self._prune_at:
            self._pending = [issued for issued in self._pending if not issued.started]
            self._prune_at = max(self._MIN_PRUNE, 2 * len(self._pending))

    def take_unawaited(self) -> list[IssuedCall]:
        """The calls never started, each stopped for good (closed, or its task cancelled before it ran)."""
        unawaited = [issued for issued in self._pending if not issued.started]
        self._pending = []
        if unawaited:
            _stop(unawaited)
        return unawaited

    def discard(self) -> None:
        """After a run that did not return: close the unstarted calls that no task will run.

        A call handed to a task (``asyncio.gather`` whose sibling raised) is left to its task.
        """
        orphans = [issued for issued in self._pending if not issued.started and not _owned_by_task(issued)]
        self._pending = []
        for issued in orphans:
            issued.call.close()


def unawaited_error(workflow_name: str, instance_id: str, calls: list[IssuedCall]) -> UnawaitedActivityError:
    """The error that fails a run which returned with activity calls never awaited."""
    described = "; ".join(f"{c.name} at {c.location} ({_where(c.position)})" for c in calls)
    first = calls[0]
    return UnawaitedActivityError(
        f"workflow {workflow_name!r} instance {instance_id}: activity call(s) never awaited, so they never "
        f"ran: {described}. Write `await {first.name}(ctx, ...)`, or pass the calls to asyncio.gather / "
        "wait_all; an activity call without await does nothing.",
        first.name,
        first.location,
    )


def _owned_by_task(issued: IssuedCall) -> bool:
    return any(task.get_coro() is issued.call for task in asyncio.all_tasks())


def _stop(calls: list[IssuedCall]) -> None:
    tasks = {id(task.get_coro()): task for task in asyncio.all_tasks()}
    for issued in calls:
        task = tasks.get(id(issued.call))
        if task is not None:
            task.cancel()  # a fire-and-forget task that has not run yet: it never will
        else:
            issued.call.close()


def _where(position: int) -> str:
    # a call made inside a ctx.parallel branch claims its position only when it runs
    return f"history position {position}" if position >= 0 else "in a branch, no position taken"
