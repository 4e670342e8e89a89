"""Control-flow signals raised through workflow code.

They derive from ``BaseException`` (not ``Exception``) so a user's ``except Exception:`` inside a
workflow cannot swallow them; the engine's runner is the one place that catches them.
"""

from __future__ import annotations


class EddaSignal(BaseException):
    """Base of every engine control-flow signal."""


class CancelSignal(EddaSignal):
    """The instance is being cancelled: unwind the workflow body so compensations can run."""


class LeaseLostSignal(EddaSignal):
    """Another worker owns the instance now: stop at once, write nothing, retry nothing."""


class DeadlineSignal(EddaSignal):
    """The workflow ran past its deadline: unwind and fail it with ``WorkflowTimeoutError``."""


class ReplayEndSignal(EddaSignal):
    """A dry replay (replay check / unwinding) reached a position with no recorded outcome."""
