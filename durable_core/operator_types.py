"""Read models for operators (the console, the CLI) and the operator action journal.

Frozen dataclasses that cross layers like those of :mod:`durable_core.types` (kept apart so that module
stays within its size budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from durable_core.types import HistoryEntry, InstanceStatus, JsonValue

__all__ = ["ArchivedRun", "InstanceCounts", "OperatorAction", "ThroughputPoint"]


@dataclass(frozen=True, slots=True)
class InstanceCounts:
    """How many instances there are in each status and of each workflow (absent: none).

    Two separate counts, each one scan of an index, rather than a workflow-by-status matrix, which no
    index covers (a matrix costs a full table scan: seconds at a million rows).
    """

    by_status: tuple[tuple[InstanceStatus, int], ...]
    by_workflow: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        """All instances."""
        return sum(count for _, count in self.by_status)


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    """Instances started and finished during the minute beginning at ``minute``."""

    minute: datetime
    started: int
    finished: int


@dataclass(frozen=True, slots=True)
class ArchivedRun:
    """One earlier run of an instance that recurred (``ctx.recur``): its number and recorded steps."""

    run: int
    entries: tuple[HistoryEntry, ...]


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """An operator's action on an instance, journaled with who did it and why.

    Attributes:
        instance_id: the instance acted on.
        action: what was done (``"cancel"``, ``"resume"``, ``"answer"``, ``"send-event"``, ...).
        actor: who did it (the authenticated principal, or the local user).
        reason: why, as the operator wrote it.
        at: when (the app's clock).
        detail: what else is worth keeping (the event type, the event id, ...).
    """

    instance_id: str
    action: str
    actor: str
    reason: str
    at: datetime
    detail: JsonValue = None
