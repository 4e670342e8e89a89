"""The saga example from Edda's README with ``durable_core`` imports.

Two reservations succeed, the payment fails, and the compensations run in reverse order: item2's
reservation is cancelled first, then item1's. Each compensation receives the arguments of the activity
it undoes. Added to the original: type annotations, the ``charge_payment`` it leaves undefined, and a
``main`` that runs it and checks the order.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from durable_core import (
    EddaApp,
    InstanceStatus,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    compensation,
    on_failure,
    workflow,
)

LOG: list[str] = []


@compensation
async def cancel_reservation(ctx: WorkflowContext, item_id: str) -> dict[str, bool]:
    # Automatically called on workflow failure (reverse order)
    print(f"Cancelled reservation for {item_id}")
    LOG.append(f"cancel {item_id}")
    return {"cancelled": True}


@activity
@on_failure(cancel_reservation)
async def reserve_inventory(ctx: WorkflowContext, item_id: str) -> dict[str, bool]:
    print(f"Reserved {item_id}")
    LOG.append(f"reserve {item_id}")
    return {"reserved": True}


@activity
async def charge_payment(ctx: WorkflowContext) -> None:
    print("Charging the card... declined")
    raise TerminalError("card declined")  # fail at once, without retries


@workflow
async def order_workflow(ctx: WorkflowContext, item1: str, item2: str) -> None:
    await reserve_inventory(ctx, item1)  # Step 1: Reserve item1
    await reserve_inventory(ctx, item2)  # Step 2: Reserve item2
    await charge_payment(ctx)  # Step 3: If this fails...
    # Compensation runs: cancel item2 → cancel item1 (reverse order)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'saga.db'}") as app:
            instance_id = await order_workflow.start(item1="ITEM-1", item2="ITEM-2")
            try:
                await app.handle(instance_id).result(timeout=10)
            except WorkflowFailedError as exc:
                print(f"workflow failed: {exc}")
            assert await app.handle(instance_id).status() is InstanceStatus.FAILED
            steps = [f"{e.kind.value} {e.name}" for e in await app.get_history(instance_id)]
    print("history:", steps)
    assert LOG == ["reserve ITEM-1", "reserve ITEM-2", "cancel ITEM-2", "cancel ITEM-1"], LOG
    print("OK: compensations ran in reverse order")


if __name__ == "__main__":
    asyncio.run(main())
