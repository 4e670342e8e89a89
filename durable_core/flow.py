"""Flow-control settings that cross layers: queues, rate limits and start options (plain frozen data).

How they are enforced lives in :mod:`durable_core.storage.flow` (one claim transaction per queue) and
:mod:`durable_core.engine.flow`; this leaf only declares and validates what a user configures.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from durable_core.errors import ConfigurationError
from durable_core.validation import MAX_NAME_LENGTH, check_identifier

__all__ = [
    "FlowOptions",
    "OnConflict",
    "Queue",
    "QueueKeyStats",
    "QueueStats",
    "RateGrant",
    "RateLimit",
    "RateState",
]


_US: Final = timedelta(microseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RateState:
    """A rate limiter's stored state: the theoretical arrival time of the next grant (None: idle)."""

    tat: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON for the database (microseconds since the epoch)."""
        return {"tat": None if self.tat is None else (self.tat - _EPOCH) // _US}

    @classmethod
    def from_json(cls, value: Any) -> RateState:
        """The state :meth:`to_json` stored (an idle state for NULL)."""
        tat = value.get("tat") if isinstance(value, dict) else None
        return cls(None if tat is None else _EPOCH + int(tat) * _US)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` grants per ``per``, shared by every process on the database.

    Grants are spaced evenly, one every ``per / count`` (a generic cell rate algorithm), after an
    initial ``burst``: with the default ``burst=1`` no window of length ``per`` ever holds more than
    ``count`` grants. A larger burst lets that many go at once after an idle period.

    A claimer may take grants a little *ahead* (``horizon``): each comes with the time it is for, and
    the run starts then. So a slow claim does not slow the rate down.

    Args:
        count: grants per period (>= 1).
        per: the period (> 0).
        burst: grants allowed back to back after an idle period (1..count).
    """

    count: int
    per: timedelta = timedelta(seconds=1)
    burst: int = 1

    def __post_init__(self) -> None:
        if type(self.count) is not int or self.count < 1:
            raise ConfigurationError(f"RateLimit count must be a positive int, got {self.count!r}")
        if not isinstance(self.per, timedelta) or self.per <= timedelta(0):  # type: ignore[redundant-expr]
            raise ConfigurationError(f"RateLimit per must be a positive timedelta, got {self.per!r}")
        if type(self.burst) is not int or not 1 <= self.burst <= self.count:
            raise ConfigurationError(f"RateLimit burst must be an int in 1..count, got {self.burst!r}")

    @property
    def interval(self) -> timedelta:
        """Time between two grants at the sustained rate."""
        return self.per / self.count

    def grant(
        self, state: RateState | None, now: datetime, wanted: int, horizon: timedelta = timedelta(0)
    ) -> RateGrant:
        """Take up to ``wanted`` grants for times in ``[now, now + horizon]`` from ``state``.

        Pure: the caller stores :attr:`RateGrant.state` in the same transaction that uses the grants.
        """
        tat = state.tat if state is not None else None
        tolerance = self.interval * (self.burst - 1)
        times: list[datetime] = []
        retry_at = None
        while len(times) < wanted:
            at = now if tat is None else max(now, tat - tolerance)
            if at > now + horizon:
                retry_at = at - horizon
                break
            times.append(at)
            tat = max(tat or at, at) + self.interval
        return RateGrant(tuple(times), RateState(tat), retry_at)


@dataclass(frozen=True, slots=True)
class RateGrant:
    """The grants :meth:`RateLimit.grant` gave (the time each is for), the new state, and when to ask again."""

    times: tuple[datetime, ...]
    state: RateState
    retry_at: datetime | None

    @property
    def granted(self) -> int:
        """How many grants were given."""
        return len(self.times)


def _optional_positive(what: str, value: int | None) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ConfigurationError(f"{what} must be a positive int or None, got {value!r}")


@dataclass(frozen=True, slots=True)
class Queue:
    """A named queue that limits how many of its runs execute at once, across every process.

    A *slot* is held while a run executes (holds its lease): a run that sleeps or waits for an event,
    message or child gives its slot back and takes one again when it resumes.

    Args:
        name: the queue's name (``@workflow(queue=name)`` or ``with_options(queue=name)``).
        concurrency: runs of the queue executing at once (None: no limit).
        per_key_concurrency: runs executing at once per ``queue_key`` (None: no limit).
        rate_limit: limits how often runs of the queue *start* (their first claim), not resumes.
        priority: honour ``with_options(priority=...)`` (higher first); False ignores it.
    """

    name: str
    concurrency: int | None = None
    per_key_concurrency: int | None = None
    rate_limit: RateLimit | None = None
    priority: bool = True

    def __post_init__(self) -> None:
        check_identifier("queue name", self.name, limit=MAX_NAME_LENGTH)
        _optional_positive("Queue concurrency", self.concurrency)
        _optional_positive("Queue per_key_concurrency", self.per_key_concurrency)
        if self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise ConfigurationError(f"Queue rate_limit must be a RateLimit, got {self.rate_limit!r}")


class OnConflict(enum.Enum):
    """What a start with a ``singleton_key`` does while another instance with that key is active."""

    RETURN = "return"  # return the active instance's id; nothing new is stored
    QUEUE = "queue"  # store the new instance; it starts once the active one has finished


@dataclass(frozen=True, slots=True)
class FlowOptions:
    """Per-start flow options (see ``Workflow.with_options``); all default to "none"."""

    queue: str | None = None
    queue_key: str | None = None
    priority: int = 0
    debounce_key: str | None = None
    debounce: timedelta | None = None
    singleton_key: str | None = None
    on_conflict: OnConflict = OnConflict.RETURN

    def __post_init__(self) -> None:
        if type(self.priority) is not int:
            raise ConfigurationError(f"priority must be an int, got {self.priority!r}")
        if (self.debounce_key is None) != (self.debounce is None):
            raise ConfigurationError("debounce_key and debounce are given together")
        if self.debounce is not None and (
            not isinstance(self.debounce, timedelta)  # type: ignore[redundant-expr]
            or self.debounce <= timedelta(0)
        ):
            raise ConfigurationError(f"debounce must be a positive timedelta, got {self.debounce!r}")
        if self.debounce_key is not None and self.singleton_key is not None:
            raise ConfigurationError("debounce_key and singleton_key cannot be combined")
        for what, key in (("queue_key", self.queue_key), ("debounce_key", self.debounce_key)):
            if key is not None:
                check_identifier(what, key, limit=MAX_NAME_LENGTH)
        if self.singleton_key is not None:
            check_identifier("singleton_key", self.singleton_key, limit=MAX_NAME_LENGTH)

    @property
    def is_default(self) -> bool:
        """Nothing set: a plain start."""
        return self == FlowOptions()


@dataclass(frozen=True, slots=True)
class QueueKeyStats:
    """One queue key: unfinished runs not executing (``depth``), of those runnable now, and executing."""

    key: str | None
    depth: int
    queued: int
    running: int


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A queue as stored now (see ``EddaApp.queue_stats``).

    Attributes:
        name / concurrency / per_key_concurrency / rate_limit: its configuration.
        depth: unfinished instances of the queue that are not executing (queued, sleeping, waiting).
        queued: of those, the runnable ones waiting for a slot.
        running: executing now (holding a slot).
        keys: per-key backlog (largest first, at most 100 keys).
    """

    name: str
    concurrency: int | None
    per_key_concurrency: int | None
    rate_limit: RateLimit | None
    depth: int
    queued: int
    running: int
    keys: tuple[QueueKeyStats, ...] = field(default_factory=tuple)
