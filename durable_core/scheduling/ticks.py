"""Tick maths: the next tick of a schedule, which due ticks start now, and their instance ids.

Everything here is a pure function of the schedule and the times passed in, so every process computes
the same ticks (and the same instance ids) without talking to the others.

Cron expressions are evaluated on the *wall clock* of the schedule's time zone (with croniter on naive
local times), and each wall-clock time that matches fires once:

* spring forward (a wall time that does not exist, e.g. 02:30 when clocks jump from 02:00 to 03:00):
  the tick fires at the moment of the jump (03:00 new time); several skipped times collapse into that
  one tick;
* fall back (a wall time that happens twice, e.g. 02:30 when clocks go from 03:00 back to 02:00): the
  tick fires once, at the first occurrence. A schedule that must run at a fixed rate through DST
  changes uses ``every=``, which counts UTC time.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from croniter import croniter

from durable_core.scheduling.spec import CatchUp, Overlap, Schedule, ScheduleInfo, zone

__all__ = [
    "LOOKBACK",
    "MAX_CATCH_UP",
    "MISFIRE_GRACE",
    "FirePlan",
    "jitter_of",
    "next_tick",
    "plan_fire",
    "tick_instance_id",
]

#: a tick reached later than this after its time counts as missed (see ``CatchUp``)
MISFIRE_GRACE: Final = timedelta(seconds=60)
#: ``CatchUp.ALL`` starts at most this many missed ticks (the most recent ones)
MAX_CATCH_UP: Final = 100
#: missed ticks older than this are never caught up (bounds the scan after a long downtime)
LOOKBACK: Final = timedelta(days=7)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_STEPS: Final = 20_000  # cron candidates examined per call, at most (a repeated DST hour adds 60)


def _wall_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """The instant of wall time ``naive`` in ``tz``: its first occurrence, or the jump over a gap."""
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # ``naive`` falls in a spring-forward gap: the jump lies between the two readings of it
    low = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)  # before the jump (offset after it)
    high = first  # after the jump (offset before it)
    offset_before = low.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        mid = (low + (high - low) / 2).replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == offset_before:
            low = mid
        else:
            high = mid
    return high


def next_tick(spec: Schedule, after: datetime) -> datetime:
    """The first tick of ``spec`` strictly after ``after`` (an aware UTC datetime)."""
    if spec.every is not None:
        steps = (after - _EPOCH) // spec.every + 1
        return _EPOCH + steps * spec.every
    assert spec.cron is not None
    tz = zone(spec.timezone)
    local = after.astimezone(tz).replace(tzinfo=None) - timedelta(hours=2)  # covers a repeated hour
    cursor = croniter(spec.cron, local)
    for _ in range(_MAX_STEPS):
        candidate = _wall_to_utc(cursor.get_next(datetime), tz)
        if candidate > after:
            return candidate
    raise RuntimeError(f"no tick of {spec.describe} found after {after.isoformat()}")  # pragma: no cover


def jitter_of(schedule_id: str, spec: Schedule, tick: datetime) -> timedelta:
    """The fixed delay of ``tick`` within ``[0, spec.jitter)``: the same in every process."""
    if spec.jitter <= timedelta(0):
        return timedelta(0)
    digest = hashlib.sha256(f"{schedule_id}|{tick.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(microseconds=int(spec.jitter / timedelta(microseconds=1) * fraction))


def tick_instance_id(schedule_id: str, tick: datetime) -> str:
    """The instance id of ``tick``: ``<schedule id>@<UTC tick time>``; the same in every process."""
    text = tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if tick.microsecond:
        text += f".{tick.microsecond:06d}"
    return f"{schedule_id}@{text}Z"


@dataclass(frozen=True, slots=True)
class FirePlan:
    """What one pass over a due schedule does.

    Attributes:
        fire: ticks to start now, oldest first.
        buffered: the tick held back for ``Overlap.BUFFER_ONE`` afterwards (None: none).
        next_tick: the schedule's next tick afterwards.
        missed: due ticks that start nothing (catch-up policy, overlap, bounds).
    """

    fire: tuple[datetime, ...]
    buffered: datetime | None
    next_tick: datetime
    missed: int


def _due(info: ScheduleInfo, now: datetime) -> tuple[list[datetime], datetime, int]:
    """Due ticks (the last ``MAX_CATCH_UP``), the first tick not due yet, and how many were dropped."""
    spec = info.spec
    tick = info.next_tick_at
    if tick < now - LOOKBACK:
        tick = next_tick(spec, now - LOOKBACK - timedelta(microseconds=1))
    due: deque[datetime] = deque(maxlen=MAX_CATCH_UP)
    seen = 0
    while tick + jitter_of(info.schedule_id, spec, tick) <= now:
        due.append(tick)
        seen += 1
        tick = next_tick(spec, tick)
    return list(due), tick, seen - len(due)


def plan_fire(info: ScheduleInfo, now: datetime, previous_running: bool) -> FirePlan:
    """Decide which ticks of ``info`` start at ``now``.

    Args:
        info: the schedule as stored (read under its row lock).
        now: the current time.
        previous_running: whether the instance of its last start is still unfinished.
    """
    spec = info.spec
    due, following, dropped = _due(info, now)
    if spec.catch_up is CatchUp.ALL:
        chosen = due
    elif spec.catch_up is CatchUp.LATEST or (
        due and now - (due[-1] + jitter_of(info.schedule_id, spec, due[-1])) <= MISFIRE_GRACE
    ):
        chosen = due[-1:]
    else:
        chosen = []
    fire: list[datetime] = []
    buffered = info.buffered_tick_at
    running = previous_running
    if buffered is not None and not running:
        fire.append(buffered)
        buffered, running = None, True
    for tick in chosen:
        if spec.overlap is Overlap.ALLOW or not running:
            fire.append(tick)
            running = True
        elif spec.overlap is Overlap.BUFFER_ONE and buffered is None:
            buffered = tick
    missed = dropped + len(due) - len([t for t in fire if t in due]) - (1 if buffered in due else 0)
    return FirePlan(tuple(fire), buffered, following, missed)
