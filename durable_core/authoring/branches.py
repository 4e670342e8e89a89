"""Concurrent branches of a workflow body, replayed in their recorded order.

A history is one sequence of positions. Outside branches an operation takes the next position when it
is *created*, which is deterministic because the body's code creates operations in a fixed order. Branches
that each run several activities one after another create them in an order that depends on when earlier
activities finished, so a branch's activity does not take a position when it is created: it *claims*
one when it runs (``ReplaySession.claim_position``).

- Live (past the recorded history) the claim is first come, first served.
- On replay an activity waits for its turn: it takes the next recorded position once the entry recorded
  there is its own (same kind, name and argument digest). A position with nothing recorded (an activity
  that was running when the process stopped) goes to an activity that matches no later recorded entry.
- When every branch waits and none matches the next recorded entry, the code has changed: the session
  is poisoned with the usual :class:`NonDeterminismError` instead of hanging.
- An outcome is handed back to its branch only once the group's activities at earlier positions have
  ended (:meth:`BranchGroup.wait_for_earlier`), so branches observe outcomes in position order on the
  first run and on replay alike (a pydantic-graph join collects results in that order).

The group of branches counts branches that run and branches that wait. "Every branch waits" is checked
again after letting the event loop run :data:`SETTLE_TICKS` more times without progress, because code
around the branches (pydantic-graph's scheduler, a reducer) may be about to start a branch that holds the
matching activity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from durable_core.authoring.runtime import WorkflowRuntime

__all__ = ["DEFERRED", "SETTLE_TICKS", "BranchGroup", "branch_group", "current_branch_group", "run_parallel"]

T = TypeVar("T")

#: the position an activity created inside a branch gets at creation: it claims the real one when it runs
DEFERRED: Final = -1

#: event-loop turns without progress after which "every branch waits" is taken as final
SETTLE_TICKS: Final = 200

_BRANCH: ContextVar[BranchGroup | None] = ContextVar("edda_branch_group", default=None)


def current_branch_group() -> BranchGroup | None:
    """The group whose branch the running task is (None outside branches)."""
    return _BRANCH.get()


class BranchGroup:
    """Concurrent branches of one session (opened with ``ctx.branch_group()`` or by ``ctx.parallel``).

    Each branch is a task that runs inside :meth:`branch`; the code that opened the group must only
    await the branches (durable operations next to them, outside a branch, are refused while it is open).
    """

    def __init__(self, runtime: object) -> None:
        self.runtime = runtime  # the workflow runtime (replay session) the branches belong to
        self._running = 0  # branches entered and not left
        self._waiting = 0  # of those, branches waiting for their turn
        self._progress = asyncio.Event()
        self._claimed: list[int] = []  # positions claimed by this group's activities
        self._finished: set[int] = set()  # of those, activities that have handed back their outcome

    @contextmanager
    def branch(self) -> Iterator[None]:
        """Run the enclosed code (one task) as a branch of this group."""
        token = _BRANCH.set(self)
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            _BRANCH.reset(token)
            self.notify()

    @property
    def claimed(self) -> list[int]:
        """Positions this group's activities claimed, in claim order."""
        return list(self._claimed)

    def record_claim(self, position: int) -> None:
        """Note that one of this group's activities took ``position`` (and wake the waiting branches)."""
        self._claimed.append(position)
        self.notify()

    def finish(self, position: int) -> None:
        """The activity at ``position`` handed back its outcome (or was cancelled)."""
        self._finished.add(position)
        self.notify()

    async def wait_for_earlier(self, position: int) -> None:
        """Wait until every activity of this group at a position before ``position`` has finished."""
        while any(p < position and p not in self._finished for p in self._claimed):
            await self._progress.wait()

    def notify(self) -> None:
        """Something changed (a position was taken, a branch ended): waiting branches look again."""
        event, self._progress = self._progress, asyncio.Event()
        event.set()

    async def wait_turn(self, stuck: Callable[[], None]) -> None:
        """Wait until something changes; call ``stuck`` (which raises) when every branch stays waiting."""
        self._waiting += 1
        try:
            event = self._progress
            if self._waiting < self._running:
                await event.wait()
                return
            for _ in range(SETTLE_TICKS):
                await asyncio.sleep(0)
                if event.is_set() or self._waiting < self._running:
                    return
            try:
                stuck()
            finally:
                self.notify()  # the others find the session poisoned and stop too
        finally:
            self._waiting -= 1


@contextmanager
def branch_group(runtime: WorkflowRuntime) -> Iterator[BranchGroup]:
    """Open a group of branches of ``runtime`` for the enclosed block and close it at the end."""
    group = runtime.open_branch_group()
    completed = False
    try:
        yield group
        completed = True
    except Exception:
        completed = True  # the workflow may catch it and go on: positions after the group must line up
        raise
    finally:
        runtime.close_branch_group(group, completed=completed)


async def run_parallel(runtime: WorkflowRuntime, branches: tuple[Awaitable[Any], ...]) -> list[Any]:
    """Run ``branches`` concurrently as branches of one group; results in argument order.

    The first branch to fail cancels the others (once they have stopped, its error is raised), like
    pydantic-graph's parallel branches and ``asyncio.TaskGroup`` but without an ``ExceptionGroup``.
    """
    if not branches:
        return []
    with branch_group(runtime) as group:

        async def run(branch: Awaitable[Any]) -> Any:
            with group.branch():
                return await branch

        tasks = [asyncio.ensure_future(run(branch)) for branch in branches]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()  # no-op for finished ones; stops siblings after a failure or our own cancel
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:  # argument order among the branches that had failed when the wait returned
            if task in done and not task.cancelled() and (error := task.exception()) is not None:
                raise error
        return [task.result() for task in tasks]
