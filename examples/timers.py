"""Durable timers: a reminder workflow sleeps in the database, not in memory, and survives a restart."""

import asyncio
import tempfile
from pathlib import Path

from durable_core import EddaApp, FakeClock, InstanceStatus, WorkflowContext, activity, sleep, workflow


@activity
async def send_reminder(ctx: WorkflowContext, user: str, nth: int) -> str:
    print(f"reminder {nth} sent to {user}")
    return f"reminder-{nth}"


@workflow
async def onboarding(ctx: WorkflowContext, user: str) -> list[str]:
    sent = []
    for nth in (1, 2):
        await sleep(ctx, 3 * 24 * 3600)  # three days: the instance is WAITING, no worker holds it
        sent.append(await send_reminder(ctx, user, nth))
    return sent


async def wait_until_parked(app: EddaApp, instance_id: str, steps: int) -> None:
    """Poll (bounded) until the instance waits again after recording ``steps`` history entries."""
    for _ in range(1000):
        record = await app.get_instance(instance_id)
        if record.status is InstanceStatus.WAITING and len(await app.get_history(instance_id)) == steps:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the instance never parked")


async def main() -> None:
    clock = FakeClock()  # skips time; in production leave `clock` out and days really pass
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'timers.db'}"
        async with EddaApp(db, clock=clock) as app:
            iid = await onboarding.start(user="ada")
            await wait_until_parked(app, iid, steps=1)  # ctx.now() recorded, timer not due
            print("after start:", (await app.get_instance(iid)).status.value)
        # The process stops while the instance sleeps; three days later another one starts.
        clock.advance(3 * 24 * 3600)
        async with EddaApp(db, clock=clock) as app:
            await wait_until_parked(app, iid, steps=4)  # timer fired, reminder sent, sleeping again
            clock.advance(3 * 24 * 3600)
            result = await app.handle(iid).result(timeout=10)
            print("result:", result)
    assert result == ["reminder-1", "reminder-2"]


if __name__ == "__main__":
    asyncio.run(main())
