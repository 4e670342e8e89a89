"""Compensations registered from the workflow body, and compensation on cancel.

``register_compensation(ctx, fn, *args)`` registers an undo step for work the workflow did itself (or
for any step without ``@on_failure``). Cancelling an instance runs every registered compensation in
reverse order before the instance becomes CANCELLED.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from durable_core import (
    EddaApp,
    InstanceStatus,
    WorkflowCancelledError,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    register_compensation,
    workflow,
)

LOG: list[str] = []
AWAITING_APPROVAL = asyncio.Event()


@compensation
async def cancel_flight(ctx: WorkflowContext, traveller: str, flight: str, result: str) -> None:
    LOG.append(f"cancel flight {result}")


@activity
@on_failure(cancel_flight)
async def book_flight(ctx: WorkflowContext, traveller: str, flight: str) -> str:
    LOG.append(f"book flight {flight}")
    return f"{flight}/{traveller}"


@activity
async def book_hotel(ctx: WorkflowContext, traveller: str, city: str) -> str:
    LOG.append(f"book hotel in {city}")
    return f"HOTEL-{city}"


@compensation
async def release_hotel(ctx: WorkflowContext, booking: str) -> None:
    LOG.append(f"release {booking}")


@activity
async def wait_for_approval(ctx: WorkflowContext, traveller: str) -> bool:
    AWAITING_APPROVAL.set()
    await asyncio.sleep(1.0)  # a manager takes a while; the trip is cancelled meanwhile
    return True


@activity
async def issue_tickets(ctx: WorkflowContext, traveller: str) -> str:
    LOG.append("issue tickets")
    return "tickets"


@workflow
async def business_trip(ctx: WorkflowContext, traveller: str, flight: str, city: str) -> str:
    await book_flight(ctx, traveller, flight)
    booking = await book_hotel(ctx, traveller, city)
    register_compensation(ctx, release_hotel, booking)  # undo step with its own arguments
    await wait_for_approval(ctx, traveller)
    return await issue_tickets(ctx, traveller)  # never reached: cancelled before this step


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'trips.db'}") as app:
            handle = app.handle(await business_trip.start(traveller="ada", flight="LH123", city="Oslo"))
            await AWAITING_APPROVAL.wait()
            print("cancel:", (await handle.cancel(reason="trip called off", cancelled_by="ada")).value)
            try:
                await handle.result(timeout=10)
            except WorkflowCancelledError as exc:
                print(exc)
            assert await handle.status() is InstanceStatus.CANCELLED
    for line in LOG:
        print(" ", line)
    assert LOG == [
        "book flight LH123",
        "book hotel in Oslo",
        "release HOTEL-Oslo",
        "cancel flight LH123/ada",
    ], LOG
    print("OK: cancelling ran the compensations in reverse order")


if __name__ == "__main__":
    asyncio.run(main())
