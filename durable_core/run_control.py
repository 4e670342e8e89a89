"""Run control values that cross layers: the actions, their outcomes and the control journal.

Run control is what an operator does to an instance from outside its code: retry a failed run from
its failed step, fork a run into a new instance, pause / unpause it at step boundaries, terminate it.
Each action is one locked transaction in storage that also appends a :class:`ControlEntry` (who, why,
what) to the instance's control journal (``edda_control_log``); see ``docs/run-control.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from durable_core.types import ErrorInfo, InstanceStatus, JsonValue, Payload

__all__ = [
    "PAUSABLE_STATUSES",
    "ControlAction",
    "ControlEntry",
    "ControlOutcome",
    "ForkSpec",
    "RetrySpec",
    "TerminateSpec",
]

#: Statuses an instance may be paused in (BLOCKED / OUTCOME_UNKNOWN already wait for an operator).
PAUSABLE_STATUSES: frozenset[InstanceStatus] = frozenset(
    {InstanceStatus.PENDING, InstanceStatus.RUNNING, InstanceStatus.WAITING, InstanceStatus.COMPENSATING}
)


class ControlAction(enum.StrEnum):
    """A run-control action, as journaled."""

    RETRY = "retry"
    FORK = "fork"  # journaled on the new instance (its origin) and on the source
    PAUSE = "pause"
    UNPAUSE = "unpause"
    TERMINATE = "terminate"


class ControlOutcome(enum.StrEnum):
    """What a run-control call did (like :class:`~durable_core.types.CancelOutcome` for ``cancel``).

    ``APPLIED``: this call changed the instance. ``ALREADY_APPLIED``: it was already so (a repeated call,
    e.g. a second ``pause``, or the same ``retry`` sent twice): nothing was changed or journaled.
    """

    APPLIED = "applied"
    ALREADY_APPLIED = "already-applied"


@dataclass(frozen=True, slots=True)
class ControlEntry:
    """One journaled run-control action.

    Attributes:
        instance_id: the instance it was applied to.
        seq: its order among all journaled actions (increasing).
        action: what was done.
        by: who did it (``by=`` of the call: a user, ``"cli"``, ``"mcp"``, ``"console"``...).
        reason: why (``reason=`` of the call; may be empty).
        at: when (the app's clock).
        detail: what else was decided, e.g. ``{"position": 3}`` for a retry (the failed step it re-runs),
            ``{"forked_from": ..., "forked_at": ...}`` for a fork, the status it had for a terminate.
    """

    instance_id: str
    seq: int
    action: ControlAction
    by: str
    reason: str
    at: datetime
    detail: dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """A retry as the engine asks storage for it.

    Attributes:
        by / reason: journaled.
        now: the app's clock.
        deadline_at: the instance's new deadline (now + the workflow's timeout), or None.
    """

    by: str
    reason: str
    now: datetime
    deadline_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ForkSpec:
    """A fork as the engine asks storage for it.

    Attributes:
        source_id: the instance whose history is copied.
        new_instance_id: the fork's id.
        at: the first history position *not* copied (where the fork runs live again).
        input / input_hash: the fork's input (the source's unless overridden).
        service_name: recorded on the fork.
        deadline_at: the fork's deadline, or None.
        by / reason / now: journaled.
    """

    source_id: str
    new_instance_id: str
    at: int
    input: Payload | None
    input_hash: str | None
    service_name: str
    deadline_at: datetime | None
    by: str
    reason: str
    now: datetime


@dataclass(frozen=True, slots=True)
class TerminateSpec:
    """A terminate as the engine asks storage for it (``error`` is the recorded failure)."""

    by: str
    reason: str
    now: datetime
    error: ErrorInfo
