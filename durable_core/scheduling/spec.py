"""What a schedule is: when it ticks (cron or fixed interval), what it starts and its policies."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from durable_core.errors import EddaError, InputValidationError

__all__ = [
    "MIN_EVERY",
    "CatchUp",
    "Overlap",
    "Schedule",
    "ScheduleExistsError",
    "ScheduleInfo",
    "ScheduleNotFoundError",
    "enum_value",
    "zone",
]

#: the shortest fixed interval (a tick's instance id has whole-second precision)
MIN_EVERY: Final = timedelta(seconds=1)
_E = TypeVar("_E", bound=enum.StrEnum)


class ScheduleNotFoundError(EddaError, LookupError):
    """No schedule has that id."""


class ScheduleExistsError(EddaError):
    """A schedule with that id already exists with another definition (``update`` changes it)."""


class Overlap(enum.StrEnum):
    """What a tick does while the instance started by an earlier tick of the schedule is still running.

    SKIP: start nothing for this tick. BUFFER_ONE: start it as soon as the running one finishes, at most
    one buffered tick (later ones are dropped). ALLOW: always start.
    """

    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    ALLOW = "allow"


class CatchUp(enum.StrEnum):
    """Which ticks missed while no process ran the schedule (downtime, pause) are started afterwards.

    A tick is *missed* when it is reached more than ``MISFIRE_GRACE`` (60 s) after its time.
    NONE: none (the next tick is the next future one). LATEST: the most recent missed tick. ALL: every
    missed tick, oldest first, bounded (see :data:`durable_core.scheduling.ticks.MAX_CATCH_UP`).
    """

    NONE = "none"
    LATEST = "latest"
    ALL = "all"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (InputValidationError naming it when unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InputValidationError(f"timezone {name!r} is not a known IANA time zone name") from None


def _check_cron(expr: object) -> str:
    if not isinstance(expr, str) or not expr.strip():
        raise InputValidationError(f"cron must be a non-empty cron expression, got {expr!r}")
    text = " ".join(expr.split())
    if not (text.startswith("@") or len(text.split(" ")) == 5) or not croniter.is_valid(text):
        raise InputValidationError(
            f"cron {expr!r} is not a valid 5-field cron expression (minute hour day month weekday) "
            "or macro such as @daily"
        )
    return text


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a schedule ticks and how its ticks start instances.

    Give exactly one of ``cron`` and ``every``. String spellings of the enums are accepted.

    Args:
        cron: a 5-field cron expression (or ``@hourly``/``@daily``/...) in ``timezone``'s wall time.
        every: a fixed interval (at least 1 s); ticks are multiples of it since 1970-01-01 UTC, so
            every process computes the same ticks. ``timezone`` does not apply.
        args: keyword arguments the workflow is started with (validated against its type hints).
        timezone: IANA zone of the cron expression (default UTC).
        overlap: see :class:`Overlap` (default SKIP, as Temporal).
        catch_up: see :class:`CatchUp` (default LATEST).
        jitter: each tick starts up to this much later (a fixed, deterministic offset per tick) to
            spread load; must be shorter than ``every``.

    Raises:
        InputValidationError: naming the invalid field.
    """

    cron: str | None = None
    every: timedelta | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"
    overlap: Overlap = Overlap.SKIP
    catch_up: CatchUp = CatchUp.LATEST
    jitter: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise InputValidationError("a schedule needs exactly one of cron=... and every=timedelta(...)")
        if self.cron is not None:
            object.__setattr__(self, "cron", _check_cron(self.cron))
        every: object = self.every
        if every is not None and (not isinstance(every, timedelta) or every < MIN_EVERY):
            raise InputValidationError(f"every must be a timedelta of at least 1 second, got {self.every!r}")
        args: object = self.args
        if not isinstance(args, Mapping):
            raise InputValidationError(f"args must be a mapping of keyword arguments, got {self.args!r}")
        object.__setattr__(self, "args", dict(args))
        zone(self.timezone)
        object.__setattr__(self, "overlap", enum_value(Overlap, "overlap", self.overlap))
        object.__setattr__(self, "catch_up", enum_value(CatchUp, "catch_up", self.catch_up))
        jitter: object = self.jitter
        if not isinstance(jitter, timedelta) or jitter < timedelta(0):
            raise InputValidationError(f"jitter must be a non-negative timedelta, got {self.jitter!r}")
        if self.every is not None and self.jitter >= self.every:
            raise InputValidationError(f"jitter ({self.jitter}) must be shorter than every ({self.every})")

    @property
    def describe(self) -> str:
        """``cron "0 3 * * *" Europe/Paris`` or ``every 0:05:00``, for listings."""
        if self.cron is not None:
            return f'cron "{self.cron}" {self.timezone}'
        return f"every {self.every}"


def enum_value(kind: type[_E], name: str, value: object) -> _E:
    """``value`` (a member or its string spelling) as a member of ``kind``; InputValidationError naming ``name``."""
    if isinstance(value, str) and value in {m.value for m in kind}:
        return kind(value)
    allowed = ", ".join(repr(m.value) for m in kind)
    raise InputValidationError(f"{name} must be one of {allowed}, got {value!r}")


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A stored schedule with its state: everything a listing or a console page shows.

    Attributes:
        schedule_id: its id (``wf:<workflow name>`` for one declared with ``@workflow(schedule=...)``).
        workflow_name: the workflow each tick starts.
        spec: when it ticks and its policies.
        paused: paused schedules start nothing; ticks passing meanwhile count as missed.
        next_tick_at: the next tick (nominal time; its instance id derives from it).
        next_fire_at: when that tick starts (``next_tick_at`` plus its jitter).
        last_fire_at: the tick of the last instance started (None: never).
        last_instance_id: the id of that instance.
        buffered_tick_at: a tick held back by ``Overlap.BUFFER_ONE`` until the running one ends.
        declared: defined by ``@workflow(schedule=...)`` (re-synced at every start-up).
        created_at / updated_at: when it was created / last changed.
    """

    schedule_id: str
    workflow_name: str
    spec: Schedule
    paused: bool
    next_tick_at: datetime
    next_fire_at: datetime
    last_fire_at: datetime | None
    last_instance_id: str | None
    buffered_tick_at: datetime | None
    declared: bool
    created_at: datetime
    updated_at: datetime
