"""Broadcast channel and direct messages: every subscriber gets each price; one gets a private note.

Two dashboards subscribe to ``prices`` with ``mode="broadcast"``; a ticker workflow publishes on it
(journaled: sent exactly once even if the ticker is replayed). A message published before a dashboard
subscribed is not delivered to it. ``send_to`` puts a message for one instance in its mailbox, where it
waits until that instance receives on the channel - subscribed or not.
"""

import asyncio
import tempfile
from pathlib import Path

from durable_core import EddaApp, WorkflowContext, publish, receive, subscribe, workflow


@workflow
async def dashboard(ctx: WorkflowContext, name: str) -> list[str]:
    await subscribe(ctx, "prices", mode="broadcast")
    seen = []
    for _ in range(2):
        message = await receive(ctx, "prices")
        seen.append(f"{message.data['symbol']}={message.data['price']}")
    note = await receive(ctx, "admin")  # direct messages only: nobody publishes on "admin"
    seen.append(f"note: {note.data}")
    return seen


@workflow
async def ticker(ctx: WorkflowContext) -> int:
    await publish(ctx, "prices", {"symbol": "ACME", "price": 101})
    await publish(ctx, "prices", {"symbol": "ACME", "price": 103})
    return 2


async def subscribed(app: EddaApp, instance_id: str) -> None:
    """Poll (bounded) until the dashboard has subscribed and waits for a price."""
    for _ in range(1000):
        info = await app.get_wait(instance_id)
        if info is not None and info.channels == ("prices",):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the dashboard never subscribed")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'broadcast.db'}") as app:
            await app.publish("prices", {"symbol": "ACME", "price": 99})  # before any subscriber
            boards = [await dashboard.start(name=name) for name in ("lobby", "trading-floor")]
            await app.send_to(boards[1], "admin", "market closes early today")  # kept until received
            for board in boards:
                await subscribed(app, board)

            print("ticker published", await ticker.start_and_wait(), "prices")
            await app.send_to(boards[0], "admin", "welcome")
            for name, board in zip(("lobby", "trading-floor"), boards, strict=True):
                print(f"{name}:", await app.handle(board).result(timeout=10))


if __name__ == "__main__":
    asyncio.run(main())
