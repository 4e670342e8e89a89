"""Per-run interrupt flags set from outside the run (cancel, lease loss, deadline), and what it runs now."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from durable_core.signals import CancelSignal, DeadlineSignal, LeaseLostSignal, PauseSignal


def _always() -> bool:
    return True


@dataclass(slots=True)
class RunControl:
    """Mutable flags the dispatcher and renewer set; the run checks them before each live step.

    ``alive`` is the process's liveness (see :mod:`durable_core.engine.liveness`): once it is False the
    process may already be taken for dead, so the run stops as if its lease were lost.
    """

    deadline: datetime | None = None
    cancel_requested: bool = False
    pause_requested: bool = False  # app.pause: stop before the next live step (a cancel goes first)
    lease_lost: bool = False
    alive: Callable[[], bool] = _always
    #: the activities / compensations running now, in the order they started (several under gather)
    running: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def step_running(self, label: str) -> Iterator[None]:
        """Show ``label`` in :attr:`running` while the block runs."""
        self.running.append(label)
        try:
            yield
        finally:
            self.running.remove(label)

    def check(self, now: datetime) -> None:
        """Raise the signal that applies, if any (lease loss first: nothing may be written then)."""
        self.check_lease()
        if self.cancel_requested:
            raise CancelSignal()
        if self.deadline is not None and now >= self.deadline:
            raise DeadlineSignal()
        if self.pause_requested:
            raise PauseSignal()

    def check_lease(self) -> None:
        """Raise ``LeaseLostSignal`` if the lease is gone (checked after retry back-off sleeps)."""
        if self.lease_lost or not self.alive():
            raise LeaseLostSignal()
