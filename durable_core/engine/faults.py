"""Engine errors during a run (not the workflow's own failures): park the instance, never loop.

Two kinds, told apart by the storage dialect (see ``ErrorKind`` in :mod:`durable_core.storage.dialects`):

* the database refuses the data for good (value too long, invalid characters): the instance is parked
  at once as ``blocked`` with an ``engine error`` message; no compensation runs, nothing is retried.
  ``app.resume(id)`` runs it again once the cause is fixed;
* anything else (connection lost mid-run, deadlock or lock timeout, an unexpected error): the run
  backs off - the instance waits until ``now + delay`` (0, then 0.5 s doubling up to 60 s) - and the
  number of engine errors at this point of its progress is counted durably (an attempt counter at a
  negative position, so it survives restarts). After :data:`ENGINE_ERROR_LIMIT` of them the instance
  is parked as ``blocked`` too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from durable_core.validation import escape_unstorable

__all__ = [
    "ENGINE_ERROR_LIMIT",
    "backoff_delay",
    "blocked_reason",
    "engine_error_position",
]

#: engine errors at one point of an instance's progress before it is parked as blocked
ENGINE_ERROR_LIMIT: Final = 8
_FIRST_DELAY_S: Final = 0.5
_MAX_DELAY_S: Final = 60.0
_MAX_REASON: Final = 2000


def engine_error_position(progress: int) -> int:
    """The attempts-table position that counts engine errors after ``progress`` recorded steps.

    Negative, so it never meets a step's own attempt counter; a run that gets further starts afresh.
    """
    return -(progress + 1)


def backoff_delay(errors: int) -> timedelta:
    """How long to wait before running again after the ``errors``-th engine error (1-based)."""
    if errors <= 1:
        return timedelta(0)
    return timedelta(seconds=min(_FIRST_DELAY_S * 2 ** (errors - 2), _MAX_DELAY_S))


def blocked_reason(error: BaseException, errors: int | None = None) -> str:
    """The ``blocked_reason`` stored for an instance parked by an engine error (always storable)."""
    what = f"{type(error).__name__}: {error}"
    if errors is None:
        text = (
            f"engine error: {what}. The database will always refuse this write, so the run was parked "
            "instead of being retried; fix the cause (code or data), then resume the instance."
        )
    else:
        text = (
            f"engine error: gave up after {errors} consecutive engine errors at the same step; last: "
            f"{what}. Resume the instance once the cause is fixed."
        )
    return escape_unstorable(text[:_MAX_REASON])
