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
    "RateCursor",
    "RateGrant",
    "RateLimit",
    "RateState",
]


_US: Final = timedelta(microseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: most runs of evenly spaced grants a limiter keeps of its last period (older ones are merged, later)
MAX_RECENT_RUNS: Final = 256


def _us(at: datetime) -> int:
    return (at - _EPOCH) // _US


def _at(us: int) -> datetime:
    return _EPOCH + us * _US


@dataclass(frozen=True, slots=True)
class RateState:
    """A rate limiter's stored state (all times in microseconds since the epoch).

    Attributes:
        tat: the theoretical arrival time of the next grant on the even schedule (None: never used).
        backlog: the grant time a claimer was refused (or told it must wait) for: someone wanted that
            grant, so if nobody claims it on time the time is made up later (None: no demand seen).
        recent: the grants of the last period as runs ``(first, step, n)`` (times ``first + k * step``):
            what keeps a catch-up from putting more than the limit into one window.
    """

    tat: datetime | None = None
    backlog: datetime | None = None
    recent: tuple[tuple[int, int, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON for the database (microseconds since the epoch)."""
        return {
            "tat": None if self.tat is None else _us(self.tat),
            "backlog": None if self.backlog is None else _us(self.backlog),
            "recent": [list(run) for run in self.recent],
        }

    @classmethod
    def from_json(cls, value: Any) -> RateState:
        """The state :meth:`to_json` stored (an idle state for NULL; older states had only ``tat``)."""
        if not isinstance(value, dict):
            return cls()
        tat, backlog = value.get("tat"), value.get("backlog")
        recent = tuple((int(a), int(b), int(c)) for a, b, c in value.get("recent") or ())
        return cls(
            None if tat is None else _at(int(tat)), None if backlog is None else _at(int(backlog)), recent
        )


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` grants per ``per``, shared by every process on the database.

    Grants are spaced evenly, one every ``per / count`` (a generic cell rate algorithm), after an
    initial ``burst``. With the default ``burst=1`` no window of length ``per`` ever holds more than
    ``count`` grants (``count + burst - 1`` with a larger burst, which lets that many go at once after
    an idle period).

    A claimer may take grants a little *ahead* (``horizon``): each comes with the time it is for, and
    the run starts then. A claimer that comes late while work was waiting (the limiter recorded a
    refused or deferred grant) is given the grants it missed - at once, as far as the window allows -
    so a slow or stalled claimer does not lower the rate over time; a limiter nobody waited on starts
    afresh (no burst beyond ``burst`` after an idle period).

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
        """Time between two grants at the sustained rate ."""
        return self.per / self.count

    def grant(
        self, state: RateState | None, now: datetime, wanted: int, horizon: timedelta = timedelta(0)
    ) -> RateGrant:
        """Take up to ``wanted`` grants for times in ``[now, now + horizon]`` from ``state``.

        Pure: the caller stores :attr:`RateGrant.state` in the same transaction that uses the grants
        (also when nothing was granted: the state then records that someone is waiting).
        """
        cursor = self.cursor(state, now, horizon)
        times: list[datetime] = []
        while len(times) < wanted:
            at = cursor.take()
            if at is None:
                break
            times.append(at)
        return RateGrant(tuple(times), cursor.state(), cursor.retry_at)

    def cursor(self, state: RateState | None, now: datetime, horizon: timedelta = timedelta(0)) -> RateCursor:
        """Grants taken one at a time within one transaction (see :class:`RateCursor`)."""
        return RateCursor(self, state or RateState(), now, horizon)


class RateCursor:
    """Takes grants of one :class:`RateLimit` one by one at ``now`` (one transaction's view).

    Args:
        limit: the limit.
        state: its stored state (read under a row lock).
        now: the claimer's time.
        horizon: how far ahead of ``now`` a grant may be for.
    """

    def __init__(self, limit: RateLimit, state: RateState, now: datetime, horizon: timedelta) -> None:
        self._per = limit.per // _US
        self._step = -(-self._per // limit.count)  # rounded up: never above the limit
        self._slack = self._step * (limit.burst - 1)
        self._window = limit.count + limit.burst - 1  # most grants in any window of length per
        self._now = _us(now)
        self._end = self._now + horizon // _US
        self._horizon = horizon // _US
        self._times = [t for t in _expand(state.recent) if t > self._now - self._per]
        self._backlog = None if state.backlog is None else _us(state.backlog)
        tat = self._now if state.tat is None else _us(state.tat)
        if tat < self._now:
            waited = self._backlog is not None and self._backlog >= tat
            # late while someone waited: make the missed grants up (at most one period's worth);
            # idle: start afresh, so an idle period never turns into a burst
            tat = max(tat, self._now - self._per) if waited else self._now
        self._tat = tat
        self.retry_at: datetime | None = None

    def take(self) -> datetime | None:
        """The time of the next grant, or None (and :attr:`retry_at` set) when it is beyond the horizon."""
        at = max(self._now, self._tat - self._slack)
        if self._times:
            at = max(at, self._times[-1])
            if len(self._times) >= self._window:  # the window must not hold more than the limit
                at = max(at, self._times[-self._window] + self._per)
        if at > self._end:
            self.waiting()
            # three quarters of a horizon early: the next claim then takes a batch of grants (not one)
            # and may itself be that late without costing a grant
            self.retry_at = _at(at - self._horizon * 3 // 4)
            return None
        self._times.append(at)
        self._tat += self._step
        return _at(at)

    def waiting(self) -> None:
        """Record that work is waiting for the next grant (so it is made up if claimed late)."""
        self._backlog = self._tat

    def state(self) -> RateState:
        """The state to store: the next grant time, the demand seen and the last period's grants."""
        recent = _compress([t for t in self._times if t > self._now - self._per])
        backlog = None if self._backlog is None else _at(self._backlog)
        return RateState(_at(self._tat), backlog, recent)


def _expand(runs: tuple[tuple[int, int, int], ...]) -> list[int]:
    return [first + k * step for first, step, n in runs for k in range(n)]


def _compress(times: list[int]) -> tuple[tuple[int, int, int], ...]:
    """Runs of evenly spaced times; past :data:`MAX_RECENT_RUNS` the oldest are merged, moved later."""
    runs: list[list[int]] = []
    for t in times:
        last = runs[-1] if runs else None
        if last is not None and (last[2] == 1 or t - (last[0] + (last[2] - 1) * last[1]) == last[1]):
            if last[2] == 1:
                last[1] = t - last[0]
            last[2] += 1
        else:
            runs.append([t, 0, 1])
    while len(runs) > MAX_RECENT_RUNS:  # moving grants later only makes the window check stricter
        a, b = runs[0], runs[1]
        runs[:2] = [[b[0] + (b[2] - 1) * b[1], 0, a[2] + b[2]]]
    return tuple((a, b, c) for a, b, c in runs)


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
