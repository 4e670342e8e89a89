"""Tick maths without a database: DST semantics, catch-up bounds, overlap decisions, jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from durable_core import CatchUp, Overlap, Schedule, ScheduleInfo
from durable_core.scheduling.ticks import (
    LOOKBACK,
    MAX_CATCH_UP,
    MISFIRE_GRACE,
    jitter_of,
    next_tick,
    plan_fire,
    tick_instance_id,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def ticks(spec: Schedule, after: datetime, count: int) -> list[datetime]:
    out = []
    for _ in range(count):
        after = next_tick(spec, after)
        out.append(after)
    return out


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_spring_forward_a_skipped_wall_time_fires_once_at_the_jump() -> None:
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Paris")
    assert ticks(daily, utc(2030, 3, 30, 12), 2) == [utc(2030, 3, 31, 1), utc(2030, 4, 1, 0, 30)]
    half_hourly = Schedule(cron="*/30 * * * *", timezone="Europe/Paris")
    # 01:30 CET, then 02:00 and 02:30 (skipped) collapse with 03:00 CEST into one tick at the jump
    assert ticks(half_hourly, utc(2030, 3, 31, 0, 15), 3) == [
        utc(2030, 3, 31, 0, 30),
        utc(2030, 3, 31, 1, 0),
        utc(2030, 3, 31, 1, 30),
    ]
    new_york = Schedule(cron="30 2 * * *", timezone="America/New_York")  # 2030-03-10 02:00 -> 03:00
    assert next_tick(new_york, utc(2030, 3, 9, 12)) == utc(2030, 3, 10, 7, 0)


def test_fall_back_a_repeated_wall_time_fires_once_at_its_first_occurrence() -> None:
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Paris")
    assert ticks(daily, utc(2030, 10, 26, 12), 2) == [utc(2030, 10, 27, 0, 30), utc(2030, 10, 28, 1, 30)]
    half_hourly = Schedule(cron="*/30 * * * *", timezone="Europe/Paris")
    # 02:00 and 02:30 CEST fire; their repetitions in CET (01:00 and 01:30 UTC) do not
    assert ticks(half_hourly, utc(2030, 10, 26, 23, 45), 4) == [
        utc(2030, 10, 27, 0, 0),
        utc(2030, 10, 27, 0, 30),
        utc(2030, 10, 27, 2, 0),
        utc(2030, 10, 27, 2, 30),
    ]
    # asked from inside the repeated hour, the next tick is still after it, never before
    assert next_tick(half_hourly, utc(2030, 10, 27, 1, 10)) == utc(2030, 10, 27, 2, 0)


def test_every_counts_utc_time_from_the_epoch() -> None:
    spec = Schedule(every=timedelta(minutes=15), timezone="Europe/Paris")
    assert ticks(spec, utc(2030, 3, 31, 0, 50), 3) == [
        utc(2030, 3, 31, 1),
        utc(2030, 3, 31, 1, 15),
        utc(2030, 3, 31, 1, 30),
    ]
    assert tick_instance_id("s", utc(2030, 1, 1, 0, 0, 1)) == "s@2030-01-01T00:00:01Z"


def info(spec: Schedule, next_tick_at: datetime, **state: object) -> ScheduleInfo:
    values: dict[str, object] = {
        "schedule_id": "s",
        "workflow_name": "wf",
        "spec": spec,
        "paused": False,
        "next_tick_at": next_tick_at,
        "next_fire_at": next_tick_at + jitter_of("s", spec, next_tick_at),
        "last_fire_at": None,
        "last_instance_id": None,
        "buffered_tick_at": None,
        "declared": False,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(state)
    return ScheduleInfo(**values)  # type: ignore[arg-type]


def test_catch_up_none_fires_a_tick_within_the_grace_only() -> None:
    spec = Schedule(every=timedelta(hours=1), catch_up=CatchUp.NONE)
    on_time = plan_fire(info(spec, T0), T0 + MISFIRE_GRACE, previous_running=False)
    assert on_time.fire == (T0,) and on_time.next_tick == T0 + timedelta(hours=1)
    late = plan_fire(info(spec, T0), T0 + MISFIRE_GRACE + timedelta(seconds=1), previous_running=False)
    assert late.fire == () and late.missed == 1


def test_catch_up_all_is_bounded() -> None:
    spec = Schedule(every=timedelta(minutes=1), catch_up=CatchUp.ALL, overlap=Overlap.ALLOW)
    now = T0 + timedelta(minutes=MAX_CATCH_UP + 49, seconds=30)
    plan = plan_fire(info(spec, T0), now, previous_running=False)
    assert len(plan.fire) == MAX_CATCH_UP and plan.fire[-1] == T0 + timedelta(minutes=MAX_CATCH_UP + 49)
    assert plan.missed == 50 and plan.next_tick == T0 + timedelta(minutes=MAX_CATCH_UP + 50)
    ancient = plan_fire(info(spec, T0 - 3 * LOOKBACK), T0, previous_running=False)
    assert len(ancient.fire) == MAX_CATCH_UP and ancient.next_tick == T0 + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("overlap", "fired", "buffered"),
    [(Overlap.SKIP, 0, None), (Overlap.BUFFER_ONE, 0, 0), (Overlap.ALLOW, 3, None)],
)
def test_overlap_while_the_previous_instance_runs(overlap: Overlap, fired: int, buffered: int | None) -> None:
    spec = Schedule(every=timedelta(minutes=1), catch_up=CatchUp.ALL, overlap=overlap)
    plan = plan_fire(info(spec, T0), T0 + timedelta(minutes=2), previous_running=True)
    assert len(plan.fire) == fired
    assert plan.buffered == (None if buffered is None else T0 + timedelta(minutes=buffered))


def test_a_buffered_tick_starts_first_once_the_previous_one_finished() -> None:
    spec = Schedule(every=timedelta(minutes=1), overlap=Overlap.BUFFER_ONE)
    held = info(spec, T0 + timedelta(minutes=5), buffered_tick_at=T0)
    assert plan_fire(held, T0 + timedelta(minutes=1), previous_running=True).fire == ()
    plan = plan_fire(held, T0 + timedelta(minutes=1), previous_running=False)
    assert plan.fire == (T0,) and plan.buffered is None and plan.next_tick == T0 + timedelta(minutes=5)


def test_jitter_is_deterministic_and_bounded() -> None:
    spec = Schedule(every=timedelta(minutes=1), jitter=timedelta(seconds=30))
    offsets = {jitter_of("s", spec, T0 + timedelta(minutes=n)) for n in range(50)}
    assert all(timedelta(0) <= o < timedelta(seconds=30) for o in offsets) and len(offsets) > 40
    assert jitter_of("s", spec, T0) == jitter_of("s", spec, T0)
    plan = plan_fire(info(spec, T0), T0 + jitter_of("s", spec, T0) - timedelta(microseconds=1), False)
    assert plan.fire == ()
