"""Control-flow signals raised through workflow code.

They derive from ``BaseException`` (not ``Exception``) so a user's ``except Exception:`` inside a
workflow cannot swallow them; the engine's runner is the one place that catches them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durable_core.types import WaitRegistration


class EddaSignal(BaseException):
    """Base of every engine control-flow signal."""


class CancelSignal(EddaSignal):
    """The instance is being cancelled: unwind the workflow body so compensations can run."""


class LeaseLostSignal(EddaSignal):
    """Another worker owns the instance now: stop at once, write nothing, retry nothing."""


class PauseSignal(EddaSignal):
    """An operator paused the instance (``app.pause``): stop before the next step and free the worker."""


class DeadlineSignal(EddaSignal):
    """The workflow ran past its deadline: unwind and fail it with ``WorkflowTimeoutError``."""


class ReplayEndSignal(EddaSignal):
    """A dry replay (replay check / unwinding) reached a position with no recorded outcome."""


class SuspendSignal(EddaSignal):
    """The workflow waits (timer, event, message, child): park the instance and free the worker.

    Attributes:
        wake_at: when the instance must run again regardless (aware UTC), or None.
        wait: what else ends the wait (event types, channels, children), or None for a plain timer.
        reached: how many history positions the code had taken when it parked (``ctx.patched`` compares
            later code with it); None: every position it used. A step that parks before it ran (a rate
            limit with no grant free) gives its own position, which it has not used yet.
    """

    def __init__(
        self,
        wake_at: datetime | None,
        wait: WaitRegistration | None = None,
        position: int | None = None,
        spec: Any = None,
        reached: int | None = None,
    ) -> None:
        super().__init__(f"suspended until {wake_at.isoformat() if wake_at else 'a message arrives'}")
        self.wake_at = wake_at
        self.wait = wait
        self.position = position  # the waiting history position (event/message waits)
        self.spec = spec  # the ``WaitSpec`` waited on there
        self.reached = reached


class RecurSignal(EddaSignal):
    """``ctx.recur(...)``: archive this run's history and start the next run with these arguments."""

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__("recur")
        self.args = args
        self.kwargs = kwargs


class OutcomeUnknownSignal(EddaSignal):
    """An at-most-once step's interrupted attempt may or may not have happened: park the instance.

    Attributes:
        reason: what is unknown and why (shown as the instance's status reason).
        activity: the at-most-once activity's name.
        position: the step's history position (the one an operator's answer is for).
        attempt: the number of the interrupted attempt.
    """

    def __init__(self, reason: str, activity: str, position: int, attempt: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.activity = activity
        self.position = position
        self.attempt = attempt
