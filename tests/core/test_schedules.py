"""Schedules on every database with a fake clock: ticks, overlap, catch-up, pause, runtime changes, DST."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from durable_core import (
    Catalog,
    CatchUp,
    ConfigurationError,
    EddaApp,
    EddaError,
    FakeClock,
    InputValidationError,
    InstanceStatus,
    Overlap,
    Schedule,
    ScheduleExistsError,
    ScheduleNotFoundError,
    WorkflowContext,
    wait_event,
    workflow,
)
from durable_core.scheduling.ticks import tick_instance_id

START = datetime(2030, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    """Re-evaluate ``check`` until it holds (bounded by ``timeout`` real seconds)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.02)  # re-read the database; bounded by the timeout
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


async def scheduled_ids(app: EddaApp, schedule_id: str) -> list[str]:
    return sorted(
        r.instance_id
        for r in await app.list_instances(limit=1000)
        if r.instance_id.startswith(schedule_id + "@")
    )


async def settle(app: EddaApp, schedule_id: str, count: int) -> list[str]:
    """Wait until ``count`` instances of the schedule exist; return their ids."""
    ids: list[str] = []

    async def enough() -> bool:
        nonlocal ids
        ids = await scheduled_ids(app, schedule_id)
        return len(ids) >= count

    await eventually(enough, f"{count} instance(s) of {schedule_id}")
    return ids


async def advance(app: EddaApp, clock: FakeClock, delta: timedelta) -> None:
    """Move the fake clock (once the schedule loop sleeps on it) and let the loop run."""
    await clock.wait_for_sleepers(1)
    clock.advance(delta.total_seconds())


def workflows(catalog: Catalog) -> dict[str, Any]:
    @workflow(catalog=catalog)
    async def report(ctx: WorkflowContext, region: str = "eu") -> str:
        return f"report {region}"

    @workflow(catalog=catalog)
    async def gated(ctx: WorkflowContext) -> str:
        await wait_event(ctx, f"release.{ctx.instance_id}")
        return "released"

    return {"report": report, "gated": gated}


async def test_a_tick_starts_one_instance_with_the_derived_id(make_app, catalog: Catalog) -> None:
    wfs = workflows(catalog)
    clock = FakeClock(START)
    app = await make_app(clock=clock)
    # bad definitions are rejected naming the field, and nothing is stored
    bad: list[tuple[dict[str, Any], str]] = [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * * * *"}, "5-field"),
        ({"cron": "0 3 * * *", "every": MINUTE}, "exactly one"),
        ({"every": timedelta(milliseconds=10)}, "every"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"cron": "0 3 * * *", "overlap": "sometimes"}, "overlap"),
        ({"cron": "0 3 * * *", "catch_up": "most"}, "catch_up"),
        ({"every": MINUTE, "jitter": MINUTE}, "jitter"),
        ({"every": MINUTE, "args": {"region": 5}}, "region"),
    ]
    for options, needle in bad:
        with pytest.raises(InputValidationError, match=needle):
            await app.schedules.create("s", wfs["report"], **options)
    with pytest.raises(InputValidationError, match="'@'"):
        await app.schedules.create("a@b", wfs["report"], every=MINUTE)
    assert [s.schedule_id for s in await app.schedules.list()] == []

    info = await app.schedules.create(
        "hourly", wfs["report"], every=timedelta(hours=1), args={"region": "us"}
    )
    assert info.next_tick_at == START + timedelta(hours=1) and info.last_fire_at is None
    assert (
        await app.schedules.create("hourly", "report", every=timedelta(hours=1), args={"region": "us"})
        == info
    )
    with pytest.raises(ScheduleExistsError):
        await app.schedules.create("hourly", "report", every=timedelta(hours=2))

    await advance(app, clock, timedelta(hours=1))
    (iid,) = await settle(app, "hourly", 1)
    assert iid == "hourly@2030-01-01T01:00:00Z" == tick_instance_id("hourly", START + timedelta(hours=1))
    assert await app.wait_result(iid, timeout=10) == "report us"
    listed = await app.schedules.list()
    assert [s.schedule_id for s in listed] == ["hourly"]
    assert listed[0].last_fire_at == START + timedelta(hours=1) and listed[0].last_instance_id == iid
    assert listed[0].next_tick_at == START + timedelta(hours=2)

    other = await app.schedules.trigger_now("hourly")
    assert other == tick_instance_id("hourly", clock.now())
    assert await app.wait_result(other, timeout=10) == "report us"
    assert await app.schedules.delete("hourly") is True
    assert await app.schedules.delete("hourly") is False
    with pytest.raises(ScheduleNotFoundError):
        await app.schedules.get("hourly")


async def test_overlap_policies(make_app, catalog: Catalog) -> None:
    wfs = workflows(catalog)
    clock = FakeClock(START)
    app = await make_app(clock=clock)
    for overlap in Overlap:  # one schedule per policy, each gated by its own event
        await app.schedules.create(overlap.value, wfs["gated"], every=MINUTE, overlap=overlap)
    await advance(app, clock, MINUTE)
    first = {o: (await settle(app, o.value, 1))[0] for o in Overlap}
    for o in Overlap:
        await eventually(partial(_status_is, app, first[o], InstanceStatus.WAITING), f"{o} waits")
    for _ in range(2):  # two more ticks while the first instances still run
        await advance(app, clock, MINUTE)
        for o in Overlap:
            await eventually(partial(_fired_through, app, o.value, clock.now()), f"{o} handled the tick")
    assert len(await scheduled_ids(app, "allow")) == 3
    assert await scheduled_ids(app, "skip") == [first[Overlap.SKIP]]
    assert await scheduled_ids(app, "buffer_one") == [first[Overlap.BUFFER_ONE]]
    assert (await app.schedules.get("skip")).buffered_tick_at is None
    assert (await app.schedules.get("buffer_one")).buffered_tick_at == START + 2 * MINUTE

    for o in (Overlap.SKIP, Overlap.BUFFER_ONE):
        await app.send_event(f"release.{first[o]}", "test")
        assert await app.wait_result(first[o], timeout=10) == "released"
    # the buffered tick starts once the first one has finished, without waiting for a tick
    buffered = await settle(app, "buffer_one", 2)
    assert buffered[1] == tick_instance_id("buffer_one", START + 2 * MINUTE)
    assert (await app.schedules.get("buffer_one")).buffered_tick_at is None
    assert await scheduled_ids(app, "skip") == [first[Overlap.SKIP]]
    await advance(app, clock, MINUTE)  # skip starts again at its next tick
    assert (await settle(app, "skip", 2))[1] == tick_instance_id("skip", START + 4 * MINUTE)


async def _status_is(app: EddaApp, iid: str, status: InstanceStatus) -> bool:
    return (await app.get_instance(iid)).status is status


async def _fired_through(app: EddaApp, schedule_id: str, now: datetime) -> bool:
    return (await app.schedules.get(schedule_id)).next_tick_at > now


async def test_catch_up_after_downtime(make_app, catalog: Catalog) -> None:
    wfs = workflows(catalog)
    clock = FakeClock(START)
    first = await make_app(clock=clock)
    for policy in CatchUp:
        await first.schedules.create(
            policy.value, wfs["report"], cron="0 * * * *", catch_up=policy, overlap="allow"
        )
    await first.shutdown()  # downtime: nobody fires the ticks at 01:00, 02:00, 03:00
    with pytest.raises(EddaError, match="not initialized"):
        await first.schedules.list()
    clock.advance(timedelta(hours=3, minutes=30).total_seconds())
    app = await make_app(clock=clock)
    expected = {CatchUp.NONE: [], CatchUp.LATEST: [3], CatchUp.ALL: [1, 2, 3]}
    for policy, hours in expected.items():
        await eventually(partial(_fired_through, app, policy.value, clock.now()), f"{policy} handled")
        ids = await scheduled_ids(app, policy.value)
        assert ids == [tick_instance_id(policy.value, START + timedelta(hours=h)) for h in hours], policy
        assert (await app.schedules.get(policy.value)).next_tick_at == START + timedelta(hours=4)


async def test_pause_and_resume(make_app, catalog: Catalog) -> None:
    wfs = workflows(catalog)
    clock = FakeClock(START)
    app = await make_app(clock=clock)
    await app.schedules.create("p", wfs["report"], every=MINUTE, catch_up="all")
    paused = await app.schedules.pause("p")
    assert paused.paused
    clock.advance(3 * 60)  # three ticks pass while paused
    resumed = await app.schedules.resume("p")
    assert not resumed.paused and resumed.next_tick_at == START + 4 * MINUTE
    await advance(app, clock, MINUTE)
    assert await settle(app, "p", 1) == [tick_instance_id("p", START + 4 * MINUTE)]
    with pytest.raises(ScheduleNotFoundError):
        await app.schedules.pause("nope")


async def test_a_change_made_by_another_app_is_seen_by_the_firing_app(
    make_app, catalog: Catalog, backend: str
) -> None:
    wfs = workflows(catalog)
    clock = FakeClock(START)
    # PostgreSQL: the change must arrive by NOTIFY (the re-check would take 5 x 60 s); elsewhere by the
    # bounded re-check (5 x 0.05 s)
    worker = await make_app(clock=clock, poll_interval=60.0 if backend == "postgresql" else 0.05)
    admin = await make_app(clock=clock, run_workers=False)
    await admin.schedules.create("u", wfs["report"], cron="0 3 * * *")
    await advance(worker, clock, timedelta(0))
    with pytest.raises(InputValidationError, match="exactly one"):
        await admin.schedules.update("u", cron="*/5 * * * *", every=MINUTE)
    with pytest.raises(ScheduleNotFoundError):
        await admin.schedules.update("nope", cron="*/5 * * * *")
    updated = await admin.schedules.update("u", cron="*/5 * * * *", args={"region": "apac"})
    assert updated.next_tick_at == START + 5 * MINUTE and updated.spec.cron == "*/5 * * * *"
    assert (await worker.schedules.get("u")).spec.args == {"region": "apac"}

    async def fired() -> bool:  # the worker's loop learns the new cron (NOTIFY or its re-check)
        clock.advance(60)
        return bool(await scheduled_ids(worker, "u"))

    await eventually(fired, "the worker fires the updated schedule")
    first = (await scheduled_ids(worker, "u"))[0]
    assert await worker.wait_result(first, timeout=10) == "report apac"
    tick = datetime.fromisoformat(first.split("@")[1].replace("Z", "+00:00"))
    assert tick.minute % 5 == 0 and tick.hour == 0


async def test_two_apps_fire_each_tick_exactly_once(make_app, catalog: Catalog) -> None:
    wfs = workflows(catalog)
    clock = FakeClock(START)
    apps = [await make_app(clock=clock), await make_app(clock=clock)]
    await apps[0].schedules.create("twin", wfs["report"], every=MINUTE, catch_up="all", overlap="allow")
    for n in range(1, 6):
        await clock.wait_for_sleepers(2)
        clock.advance(60)
        await settle(apps[1], "twin", n)
    ids = await scheduled_ids(apps[0], "twin")
    assert ids == [tick_instance_id("twin", START + n * MINUTE) for n in range(1, 6)]


async def test_declared_schedule_is_synced_at_start_up(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog, schedule="*/5 * * * *")
    async def every_five(ctx: WorkflowContext) -> str:
        return "tick"

    @workflow(catalog=catalog, schedule=Schedule(every=timedelta(hours=1), overlap=Overlap.ALLOW))
    async def hourly_job(ctx: WorkflowContext) -> None:
        return None

    clock = FakeClock(START)
    app = await make_app(clock=clock)
    info = await app.schedules.get("every_five")
    assert info.declared and info.workflow_name == "every_five" and info.spec.cron == "*/5 * * * *"
    assert (await app.schedules.get("hourly_job")).spec.overlap is Overlap.ALLOW
    clock.advance(60)
    again = await make_app(clock=clock)  # a second start-up with the same definitions changes nothing
    assert await again.schedules.get("every_five") == info
    await advance(app, clock, 4 * MINUTE)
    assert await settle(app, "every_five", 1) == [tick_instance_id("every_five", START + 5 * MINUTE)]

    changed, plain = Catalog(), Catalog()

    @workflow(catalog=changed, name="every_five", schedule="*/10 * * * *")
    async def every_ten(ctx: WorkflowContext) -> str:
        return "tick"

    @workflow(catalog=changed, name="hourly_job")  # no schedule any more: its declared one is deleted
    async def unscheduled(ctx: WorkflowContext) -> None:
        return None

    await make_app(clock=clock, workflows=list(changed), run_workers=False)
    updated = await app.schedules.get("every_five")
    assert updated.spec.cron == "*/10 * * * *" and updated.next_tick_at == START + 10 * MINUTE
    assert updated.last_instance_id == tick_instance_id("every_five", START + 5 * MINUTE)
    with pytest.raises(ScheduleNotFoundError):
        await app.schedules.get("hourly_job")

    await app.schedules.create("clash", "report_elsewhere", every=MINUTE)

    @workflow(catalog=plain, schedule="@daily")
    async def clash(ctx: WorkflowContext) -> None:
        return None

    with pytest.raises(ConfigurationError, match="has its id 'clash'"):
        await make_app(clock=clock, workflows=list(plain), run_workers=False)
    with pytest.raises(ConfigurationError, match="schedule= cron"):

        @workflow(catalog=plain, schedule="every day")
        async def vague(ctx: WorkflowContext) -> None:
            return None


async def test_dst_spring_forward_and_fall_back_in_paris(make_app, catalog: Catalog) -> None:
    wfs = workflows(catalog)
    # 2030-03-31: Paris jumps from 02:00 to 03:00 (01:00 UTC); 02:30 does not exist that day
    clock = FakeClock(datetime(2030, 3, 30, 12, tzinfo=UTC))
    app = await make_app(clock=clock)
    info = await app.schedules.create("paris", wfs["report"], cron="30 2 * * *", timezone="Europe/Paris")
    assert info.next_tick_at == datetime(2030, 3, 31, 1, 0, tzinfo=UTC)  # at the jump, 03:00 CEST
    await advance(app, clock, info.next_tick_at - clock.now())
    assert await settle(app, "paris", 1) == ["paris@2030-03-31T01:00:00Z"]
    assert (await app.schedules.get("paris")).next_tick_at == datetime(2030, 4, 1, 0, 30, tzinfo=UTC)


async def test_ticks_due_together_start_at_once_with_this_apps_version(make_app, catalog: Catalog) -> None:
    """Ten schedules on one tick: one firing, and each run starts without a version write first.

    The instances carry the firing app's code version (as a plain start does), so a run leased here
    at creation goes straight to its body - ten due together no longer queue one write behind another.
    """
    wfs = workflows(catalog)
    clock = FakeClock(START)
    app = await make_app(clock=clock)
    for k in range(10):
        await app.schedules.create(f"t{k}", wfs["report"], every=MINUTE, args={"region": str(k)})
    await advance(app, clock, MINUTE)
    ids = [(await settle(app, f"t{k}", 1))[0] for k in range(10)]
    assert [await app.wait_result(i, timeout=10) for i in ids] == [f"report {k}" for k in range(10)]
    for iid in ids:
        record = await app.get_instance(iid)
        assert record is not None
        assert record.app_version == app.version == record.last_run_version
        assert record.created_at == START + MINUTE  # all fired in the same pass, at the tick
