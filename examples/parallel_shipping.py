"""Concurrent branches with several activities each: ``ctx.parallel``.

Each order is shipped by its own branch: make a label, then book a courier with it. The labels are
made at the same time (the heavy parcel's takes longest). A label is handed to its branch once the
labels started before it are done, so every run - and every replay - sees them in the same order. The
workflow then sleeps on a durable timer; when it wakes, the whole body replays from the history: every
branch gets its recorded outcomes, this time all at once, and no activity runs again.
"""

import asyncio
import tempfile
from collections import Counter
from pathlib import Path

from durable_core import EddaApp, FakeClock, WorkflowContext, activity, sleep, workflow

RUNS: Counter[str] = Counter()


@activity
async def make_label(ctx: WorkflowContext, order_id: str, weight_kg: int) -> str:
    RUNS["make_label"] += 1
    await asyncio.sleep(0.01 * weight_kg)  # a slow carrier API for heavy parcels
    return f"LBL-{order_id}"


@activity
async def book_courier(ctx: WorkflowContext, label: str) -> str:
    RUNS["book_courier"] += 1
    return f"{label} booked"


async def ship(ctx: WorkflowContext, order_id: str, weight_kg: int) -> str:
    label = await make_label(ctx, order_id, weight_kg)  # made inside the branch: the activity
    return await book_courier(ctx, label)  # claims its history position when it runs


@workflow
async def ship_all(ctx: WorkflowContext, orders: dict[str, int]) -> list[str]:
    booked = await ctx.parallel(*(ship(ctx, oid, kg) for oid, kg in orders.items()))
    await sleep(ctx, 60)  # parks the instance; the next run replays the branches from the history
    return booked


async def main() -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'parallel.db'}", clock=clock) as app:
            iid = await ship_all.start(orders={"A-1": 30, "B-2": 1, "C-3": 2})
            for _ in range(1000):  # bounded poll until the instance parks on its timer
                if (await app.get_instance(iid)).wake_at is not None:
                    break
                await asyncio.sleep(0.01)
            print("activities run before the timer:", dict(sorted(RUNS.items())))
            clock.advance(61)
            print("shipped:", await app.handle(iid).result(timeout=10))
            print("activities run in all:", dict(sorted(RUNS.items())))
            reports = await app.replay_check()
            print("replay check ok:", all(report.ok for report in reports))


if __name__ == "__main__":
    asyncio.run(main())
