"""Schedules: a declared nightly job and a runtime schedule, fired on a fake clock."""

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from durable_core import EddaApp, FakeClock, WorkflowContext, activity, workflow


@activity
async def build_report(ctx: WorkflowContext, region: str) -> str:
    return f"report for {region}"


@workflow(schedule="0 3 * * *")  # declared: stored at start-up under the id "nightly_cleanup"
async def nightly_cleanup(ctx: WorkflowContext) -> str:
    return "cleaned"


@workflow
async def regional_report(ctx: WorkflowContext, region: str) -> str:
    return await build_report(ctx, region)


async def wait_for(app: EddaApp, schedule_id: str, count: int) -> list[str]:
    """The ids of the instances the schedule started, once there are ``count`` (bounded wait)."""
    for _ in range(500):
        ids = sorted(
            r.instance_id for r in await app.list_instances() if r.instance_id.startswith(schedule_id)
        )
        if len(ids) >= count:
            return ids
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{schedule_id} did not start {count} instance(s)")


async def main() -> None:
    clock = FakeClock(datetime(2030, 3, 30, 12, tzinfo=UTC))  # leave `clock` out in production
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'schedules.db'}", clock=clock) as app:
            report = await app.schedules.create(
                "paris-report",
                regional_report,
                cron="30 2 * * *",  # 02:30 Paris time; on 2030-03-31 that time does not exist (DST)
                timezone="Europe/Paris",
                args={"region": "eu-west"},
                overlap="skip",
                catch_up="latest",
            )
            for info in await app.schedules.list():
                print(
                    f"{info.schedule_id}: {info.spec.describe}, next {info.next_tick_at:%Y-%m-%d %H:%M} UTC"
                )

            await clock.wait_for_sleepers()  # the schedule loop sleeps until the next tick
            clock.advance((report.next_tick_at - clock.now()).total_seconds())
            (first,) = await wait_for(app, "paris-report", 1)
            print("started", first, "->", await app.wait_result(first, timeout=10))

            await app.schedules.pause("paris-report")
            clock.advance(timedelta(days=2).total_seconds())  # ticks pass while paused: skipped
            resumed = await app.schedules.resume("paris-report")
            print(f"resumed, next {resumed.next_tick_at:%Y-%m-%d %H:%M} UTC")
            manual = await app.schedules.trigger_now("paris-report")
            print("triggered", manual, "->", await app.wait_result(manual, timeout=10))
            # two 03:00 UTC ticks of the declared schedule passed during the jump; catch-up "latest"
            # (the default) starts the most recent one only
            print("nightly_cleanup started", await wait_for(app, "nightly_cleanup", 1))


if __name__ == "__main__":
    asyncio.run(main())
