"""Cancelling a durable tool from MCP runs the saga's compensations in reverse order.

The trip workflow books a flight and a hotel, then waits for a payment confirmation event. Calling
book_trip_cancel while it waits undoes the hotel, then the flight.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from mcp import Client

from durable_core import WorkflowContext, activity, compensation, on_failure, wait_event
from edda_mcp import EddaMCPServer

LOG: list[str] = []


@compensation
async def cancel_flight(ctx: WorkflowContext, traveller: str, result: str) -> None:
    LOG.append(f"cancel flight {result}")


@activity
@on_failure(cancel_flight)
async def book_flight(ctx: WorkflowContext, traveller: str) -> str:
    LOG.append("book flight")
    return f"FL-{traveller}"


@compensation
async def cancel_hotel(ctx: WorkflowContext, traveller: str, result: str) -> None:
    LOG.append(f"cancel hotel {result}")


@activity
@on_failure(cancel_hotel)
async def book_hotel(ctx: WorkflowContext, traveller: str) -> str:
    LOG.append("book hotel")
    return f"HT-{traveller}"


async def book_trip(ctx: WorkflowContext, traveller: str) -> dict[str, str]:
    flight = await book_flight(ctx, traveller)
    hotel = await book_hotel(ctx, traveller)
    await wait_event(ctx, "payment.confirmed")
    return {"flight": flight, "hotel": hotel}


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EddaMCPServer("Trips", db_url=f"sqlite:///{Path(tmp) / 'trips.db'}")
        server.durable_tool(book_trip, description="Book flight and hotel, then wait for payment")
        async with Client(server.mcp) as client:
            started = await client.call_tool("book_trip", {"traveller": "ada"})
            iid = (started.structured_content or {})["instance_id"]
            print(f"book_trip -> {(started.structured_content or {})['status']}")
            cancelled = await client.call_tool("book_trip_cancel", {"instance_id": iid})
            print(f"cancel: {(cancelled.structured_content or {})['outcome']}")
            result = await client.call_tool("book_trip_result", {"instance_id": iid, "wait_seconds": 10})
            print(f"result: {result.content[0].text.split(' (')[0]}")  # type: ignore[union-attr]
        print("steps:", LOG)
        assert LOG == ["book flight", "book hotel", "cancel hotel HT-ada", "cancel flight FL-ada"], LOG
        print("OK: cancelling from MCP ran the compensations in reverse order")


if __name__ == "__main__":
    asyncio.run(main())
