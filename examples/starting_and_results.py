"""Starting instances, idempotent ids, waiting for results, status, cancel, listing and history."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from durable_core import (
    EddaApp,
    InstanceConflictError,
    InstanceStatus,
    ResultTimeoutError,
    WorkflowCancelledError,
    WorkflowContext,
    activity,
    workflow,
)


@activity
async def pack(ctx: WorkflowContext, order_id: str, seconds: float) -> str:
    await asyncio.sleep(seconds)  # stands in for real work
    return f"parcel-{order_id}"


@activity
async def ship(ctx: WorkflowContext, parcel: str, express: bool) -> str:
    return f"{parcel} shipped {'express' if express else 'standard'}"


@workflow
async def fulfil_order(ctx: WorkflowContext, order_id: str, customer: str, express: bool = False) -> str:
    parcel = await pack(ctx, order_id, 1.0 if customer == "slow-co" else 0.0)
    return await ship(ctx, parcel, express)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'orders.db'}") as app:
            # start() returns as soon as the instance is durably stored; the body runs in the background.
            instance_id = await fulfil_order.start(order_id="A-1", customer="ada")
            print("started", instance_id, "->", await app.handle(instance_id).result(timeout=10))

            # A caller-chosen instance id is an idempotency key: the same id and input is the same instance.
            keyed = fulfil_order.with_options(instance_id="order-B-2")
            first = await keyed.start(order_id="B-2", customer="bob", express=True)
            again = await keyed.start(order_id="B-2", customer="bob", express=True)
            assert first == again == "order-B-2"
            try:
                await keyed.start(order_id="B-2", customer="eve")  # same id, different input
            except InstanceConflictError as exc:
                print("conflict:", exc)

            # start_and_wait() starts and waits for the typed result in one call.
            print("start_and_wait ->", await fulfil_order.start_and_wait(order_id="C-3", customer="cy"))

            # A handle reads status, waits for the result (with a timeout) and cancels.
            slow = app.handle(await fulfil_order.start(order_id="D-4", customer="slow-co"))
            try:
                await slow.result(timeout=0.05)
            except ResultTimeoutError:
                print("D-4 not finished yet; status:", (await slow.status()).value)
            await slow.cancel(reason="customer called", cancelled_by="support")
            try:
                await slow.result(timeout=10)
            except WorkflowCancelledError as exc:
                print("cancelled:", exc)
            assert await slow.status() is InstanceStatus.CANCELLED

            # Listing and querying instances: by status, workflow name, creation time and input fields.
            await app.handle("order-B-2").result(timeout=10)
            done = await app.list_instances(status=InstanceStatus.COMPLETED, workflow_name="fulfil_order")
            recent = await app.list_instances(created_after=datetime.now(UTC) - timedelta(minutes=5))
            bobs = await app.list_instances(input_equals={"customer": "bob", "express": True})
            print(f"completed: {len(done)}, created in the last 5 minutes: {len(recent)}")
            print("bob's orders:", [record.instance_id for record in bobs])
            assert (len(done), len(recent), [r.instance_id for r in bobs]) == (3, 4, ["order-B-2"])

            # History is a list of typed HistoryEntry objects, in position order.
            print("progress:", await app.get_progress("order-B-2"))
            for entry in await app.handle("order-B-2").history():
                print(f"  {entry.position}: {entry.kind.value} {entry.name} -> {entry.result.json_value!r}")


if __name__ == "__main__":
    asyncio.run(main())
