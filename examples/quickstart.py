"""Quickstart: a two-step order workflow on embedded SQLite (the README's example)."""

import asyncio

from durable_core import EddaApp, WorkflowContext, activity, workflow


@activity
async def reserve_stock(ctx: WorkflowContext, order_id: str, sku: str) -> str:
    print(f"reserving {sku} for {order_id}")
    return f"RSV-{order_id}"


@activity
async def charge_card(ctx: WorkflowContext, order_id: str, amount: float) -> str:
    print(f"charging {amount:.2f} for {order_id}")
    return f"PAY-{order_id}"


@workflow
async def place_order(ctx: WorkflowContext, order_id: str, sku: str, amount: float) -> dict[str, str]:
    reservation = await reserve_stock(ctx, order_id, sku)
    payment = await charge_card(ctx, order_id, amount)
    return {"reservation": reservation, "payment": payment}


async def main() -> None:
    async with EddaApp("sqlite:///quickstart.db") as app:
        instance_id = await place_order.start(order_id="ORD-1", sku="book-42", amount=19.99)
        result = await app.handle(instance_id).result(timeout=10)
        print(f"order {instance_id} completed: {result}")


if __name__ == "__main__":
    asyncio.run(main())
