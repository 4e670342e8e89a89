"""Child workflows: an order runs payment and shipping as child workflows and awaits their results.

``run_child`` starts a child and waits for its typed result; ``start_child`` returns a handle whose
``result()`` is awaited later. The parent holds no worker while a child runs. A failed child raises
``ChildWorkflowError`` in the parent; when the parent fails or is cancelled, its unfinished children
are cancelled too (``cancel_with_parent=True``, the default).
"""

import asyncio
import tempfile
from pathlib import Path

from durable_core import (
    ChildWorkflowError,
    EddaApp,
    TerminalError,
    WorkflowCancelledError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    run_child,
    start_child,
    wait_event,
    workflow,
)


@activity
async def charge_card(ctx: WorkflowContext, order_id: str, amount: float) -> str:
    if amount > 1000:
        raise TerminalError(f"card limit exceeded for {order_id}")
    return f"PAY-{order_id}"


@workflow
async def payment(ctx: WorkflowContext, order_id: str, amount: float) -> str:
    return await charge_card(ctx, order_id, amount)


@workflow
async def shipping(ctx: WorkflowContext, order_id: str) -> str:
    await wait_event(ctx, "parcel.picked-up")  # may take days: the child waits, not a worker
    return f"TRACK-{order_id}"


@workflow
async def order(ctx: WorkflowContext, order_id: str, amount: float) -> dict[str, str]:
    shipment = await start_child(ctx, shipping, order_id)  # runs on its own, in parallel
    try:
        receipt = await run_child(ctx, payment, order_id, amount)
    except ChildWorkflowError as exc:
        error = exc.type_name.rpartition(":")[2]  # e.g. "durable_core.errors:TerminalError"
        raise TerminalError(f"order {order_id}: payment child {exc.status} with {error}") from exc
    return {"receipt": receipt, "tracking": await shipment.result()}


async def child_of(app: EddaApp, parent_id: str, workflow_name: str) -> str:
    """Poll (bounded) for the id of the parent's child running ``workflow_name``."""
    for _ in range(1000):
        for record in await app.list_instances(workflow_name=workflow_name):
            if record.parent_instance_id == parent_id:
                return record.instance_id
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no {workflow_name} child of {parent_id}")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'children.db'}") as app:
            good = await order.start(order_id="A-1", amount=25.0)
            parcel = await child_of(app, good, "shipping")
            print("shipping child id:", parcel.replace(good, "<parent>"))
            await app.send_event("parcel.picked-up", "courier", {}, instance_id=parcel)
            print("A-1:", await app.handle(good).result(timeout=10))

            bad = await order.start(order_id="B-2", amount=5000.0)
            try:
                await app.handle(bad).result(timeout=10)
            except WorkflowFailedError:
                failed = await app.get_instance(bad)
                print("B-2 failed:", failed.error.message if failed.error else None)
            parcel = await child_of(app, bad, "shipping")
            try:
                await app.handle(parcel).result(timeout=10)
            except WorkflowCancelledError:
                record = await app.get_instance(parcel)
                print(f"B-2 shipping child: {record.status.value} ({record.cancel_reason})")


if __name__ == "__main__":
    asyncio.run(main())
