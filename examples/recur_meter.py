"""Workflow recurrence: a metering loop starts a fresh run per month with ``ctx.recur``, same instance id.

Each run handles one month's usage report and then calls ``ctx.recur`` with the running total. The run's
history is archived and cleared atomically with storing the new arguments, so the history never grows.
The channel subscription made in the first run survives every recur: later runs receive without
subscribing again.
"""

import asyncio
import tempfile
from pathlib import Path

from durable_core import EddaApp, WorkflowContext, activity, receive, subscribe, workflow


@activity
async def bill(ctx: WorkflowContext, account: str, month: int, units: int) -> float:
    amount = units * 0.25
    print(f"{account} month {month}: {units} units -> {amount:.2f}")
    return amount


@workflow
async def meter(ctx: WorkflowContext, account: str, month: int = 1, total: float = 0.0) -> float:
    if month == 1:
        await subscribe(ctx, "usage", mode="competing")  # once: the subscription outlives each run
    report = await receive(ctx, "usage")
    total += await bill(ctx, account, month, report.data["units"])
    if month == 4:
        return total
    await ctx.recur(account, month=month + 1, total=total)  # never returns: the next run starts


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'recur.db'}") as app:
            iid = await meter.start(account="acme")
            for units in (100, 40, 60, 20):
                await app.publish("usage", {"units": units})
            print("total:", await app.handle(iid).result(timeout=10))
            history = [entry.name for entry in await app.get_history(iid)]
            print("history of the last run only:", history)


if __name__ == "__main__":
    asyncio.run(main())
