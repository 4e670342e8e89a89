"""Per-run interrupt flags, set from outside the run (cancel requests, lease loss, deadline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from durable_core.signals import CancelSignal, DeadlineSignal, LeaseLostSignal


@dataclass(slots=True)
class RunControl:
    """Mutable flags the dispatcher and renewer set; the run checks them before each live step."""

    deadline: datetime | None = None
    cancel_requested: bool = False
    lease_lost: bool = False

    def check(self, now: datetime) -> None:
        """Raise the signal that applies, if any (lease loss first: nothing may be written then)."""
        if self.lease_lost:
            raise LeaseLostSignal()
        if self.cancel_requested:
            raise CancelSignal()
        if self.deadline is not None and now >= self.deadline:
            raise DeadlineSignal()

    def check_lease(self) -> None:
        """Raise ``LeaseLostSignal`` if the lease is gone (checked after retry back-off sleeps)."""
        if self.lease_lost:
            raise LeaseLostSignal()
