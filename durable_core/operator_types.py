"""Read models for operators (the console, the CLI) and the operator action journal.

Frozen dataclasses that cross layers like those of :mod:`durable_core.types` (kept apart so that module
stays within its size budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from durable_core.flow import QueueKeyStats, RateLimit
from durable_core.types import HistoryEntry, InstanceStatus, JsonValue

__all__ = [
    "ArchivedRun",
    "InstanceCounts",
    "OperatorAction",
    "QueueBacklog",
    "RateLimitState",
    "StreamSummary",
    "ThroughputPoint",
]


@dataclass(frozen=True, slots=True)
class InstanceCounts:
    """How many instances there are in each status and of each workflow (absent: none).

    Two separate counts, each one scan of an index (the workflow-by-status matrix of the metrics gauge,
    ``EddaApp.count_instances``, scans the covering index of migration v13).
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


@dataclass(frozen=True, slots=True)
class QueueBacklog:
    """One queue's backlog in detail, read with bounded queries (see ``EddaApp.queue_backlog``).

    Attributes:
        queue: the queue's name.
        priority: whether claims take higher ``priority`` starts first (the queue's setting).
        oldest_queued_at: creation time of the oldest run waiting for a slot now (None: none waits).
        key_count: how many keys (``None`` counts as one) have unfinished runs.
        keys: the keys with the largest backlog (not executing), at most the limit asked for.
        rate_next_free_at: when the queue's rate limit grants its next start (None: no rate limit or
            free now).
        read_at: when this was read (the app's clock).
    """

    queue: str
    priority: bool
    oldest_queued_at: datetime | None
    key_count: int
    keys: tuple[QueueKeyStats, ...]
    rate_next_free_at: datetime | None
    read_at: datetime

    @property
    def oldest_queued_seconds(self) -> float | None:
        """How long the oldest queued run has waited, in seconds (None: none waits)."""
        if self.oldest_queued_at is None:
            return None
        return max(0.0, (self.read_at - self.oldest_queued_at).total_seconds())

    @property
    def more_keys(self) -> int:
        """Keys with unfinished runs that are not in :attr:`keys`."""
        return max(0, self.key_count - len(self.keys))


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """A named rate limit (``EddaApp(rate_limits=...)``) as stored now.

    Attributes:
        name: its name.
        limit: its setting when this app configures it (None: known from the database only).
        next_free_at: when its next grant is free (None: free now, idle).
    """

    name: str
    limit: RateLimit | None
    next_free_at: datetime | None


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """One durable output stream of an instance (see ``EddaApp.list_streams``).

    Attributes:
        name: the stream's name.
        chunks: stored chunks (CLOSE markers included).
        last_seq: the sequence number of the last chunk.
        last_written_at: when the last chunk was written.
        in_flight: chunks of attempts still running.
        abandoned: chunks of attempts that were retried or cut off (a partial attempt).
        failed: chunks of an attempt whose step failed for good.
        closed: the writer closed the stream (by an attempt that was not abandoned).
    """

    name: str
    chunks: int
    last_seq: int
    last_written_at: datetime
    in_flight: int = 0
    abandoned: int = 0
    failed: int = 0
    closed: bool = False
