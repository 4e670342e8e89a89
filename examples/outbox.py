"""Transactional outbox: an event is published if and only if the activity that sent it commits.

``send_event_transactional`` writes the event into the engine's outbox table through the activity's
transaction, so it commits together with the activity's history entry. A relayer started by
``EddaApp(outbox_target_url=...)`` then POSTs each committed event to the target as a CloudEvent. Here the
target is a tiny HTTP receiver on 127.0.0.1 that prints what it gets.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from durable_core import (
    EddaApp,
    OutboxStatus,
    RetryPolicy,
    WorkflowContext,
    activity,
    send_event_transactional,
    workflow,
)

received: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()


async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A minimal HTTP/1.1 endpoint: read one request, record it, answer 202."""
    while await reader.readline():
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        await received.put((headers, body))
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
    writer.close()


@activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.01))
async def create_order(ctx: WorkflowContext, order_id: str) -> str:
    # The event row is part of this activity's transaction (like any ctx.session write) ...
    await send_event_transactional(
        ctx,
        event_type="order.created",
        event_source="order-service",
        event_data={"order_id": order_id, "attempt": ctx.attempt},
        subject=f"orders/{order_id}",
    )
    if ctx.attempt == 1:  # ... so when the attempt fails, the event is rolled back with it
        raise ConnectionError("inventory service timed out")
    return order_id


@workflow
async def place_order(ctx: WorkflowContext, order_id: str) -> str:
    return await create_order(ctx, order_id)


async def main() -> None:
    server = await asyncio.start_server(receive, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        app = EddaApp(
            f"sqlite:///{Path(tmp) / 'outbox.db'}",
            outbox_target_url=f"http://127.0.0.1:{port}/events",
            outbox_mode="binary",  # or "structured": one application/cloudevents+json document
            outbox_poll_interval=0.1,
        )
        async with app:
            print("workflow result:", await place_order.start_and_wait(order_id="ORD-7"))
            headers, body = await asyncio.wait_for(received.get(), timeout=30)
            print(f"receiver got {headers['ce-type']} from {headers['ce-source']} id={headers['ce-id']}")
            print("  subject:", headers["ce-subject"], "data:", json.loads(body))
            for _ in range(100):  # the relayer records the delivery right after the 202
                sent = await app.list_outbox(OutboxStatus.SENT)
                if sent:
                    break
                await asyncio.sleep(0.05)
            print(f"outbox: {len(sent)} sent, {len(await app.outbox_pending())} pending")
            assert received.empty() and [row.event.event_id for row in sent] == [headers["ce-id"]]
    server.close()
    await server.wait_closed()
    print("OK: only the committed attempt's event was delivered, once")


if __name__ == "__main__":
    asyncio.run(main())
