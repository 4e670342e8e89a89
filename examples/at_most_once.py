"""At-most-once steps: a charge interrupted mid-attempt is reconciled, never repeated blindly.

The first app stops while both at-most-once steps are in flight (as if the process had died). A second
app finds them started with no outcome recorded. ``charge_card`` has a ``reconcile`` function: it asks
the (simulated) payment provider by the step's idempotency key and finds the charge, so the result is
recorded without charging again. ``send_receipt`` has none: its instance waits as ``outcome_unknown``
until an operator answers with ``app.resolve_unknown()``; "did not happen" runs it again.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from durable_core import (
    DidNotHappen,
    EddaApp,
    Happened,
    InstanceStatus,
    ReconcileDecision,
    WorkflowContext,
    activity,
    workflow,
)

PROVIDER: dict[str, str] = {}  # a payment provider that remembers charges by idempotency key
RECEIPTS: list[str] = []  # receipts really sent
IN_FLIGHT = asyncio.Event()
FIRST_APP_STOPPED = asyncio.Event()


async def find_charge(ctx: WorkflowContext, order_id: str, amount: float) -> ReconcileDecision:
    """Ask the provider whether the interrupted attempt charged the card."""
    charge_id = PROVIDER.get(ctx.step_idempotency_key())
    return Happened(charge_id) if charge_id is not None else DidNotHappen()


@activity(at_most_once=True, reconcile=find_charge)
async def charge_card(ctx: WorkflowContext, order_id: str, amount: float) -> str:
    key = ctx.step_idempotency_key()  # the same on every attempt and after a crash
    charge_id = PROVIDER.setdefault(key, f"ch_{len(PROVIDER) + 1}")  # the provider charges once per key
    print(f"charged {amount:.2f} for {order_id}: {charge_id}")
    if not FIRST_APP_STOPPED.is_set():
        IN_FLIGHT.set()
        await asyncio.Event().wait()  # the app stops before the result is recorded
    return charge_id


@activity(at_most_once=True)
async def send_receipt(ctx: WorkflowContext, order_id: str, charge_id: str) -> str:
    if not FIRST_APP_STOPPED.is_set():
        IN_FLIGHT.set()
        await asyncio.Event().wait()  # stopped before anything was sent
    RECEIPTS.append(order_id)
    return f"receipt for {order_id} ({charge_id})"


@workflow
async def checkout(ctx: WorkflowContext, order_id: str, amount: float) -> str:
    charge_id = await charge_card(ctx, order_id, amount)
    return await send_receipt(ctx, order_id, charge_id)


@workflow
async def resend(ctx: WorkflowContext, order_id: str) -> str:
    return await send_receipt(ctx, order_id, "ch_old")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'payments.db'}"
        first = EddaApp(db_url, shutdown_timeout=0)
        await first.initialize()
        paid = await checkout.start(order_id="ORD-1", amount=42.0)
        await IN_FLIGHT.wait()
        IN_FLIGHT.clear()
        mailed = await resend.start(order_id="ORD-0")
        await IN_FLIGHT.wait()
        print("first app stops while charge_card and send_receipt are running")
        await first.shutdown()
        FIRST_APP_STOPPED.set()

        async with EddaApp(db_url) as second:
            print("checkout:", await second.handle(paid).result(timeout=10))
            for _ in range(200):  # the second app takes the instance over and parks it
                if await second.handle(mailed).status() is InstanceStatus.OUTCOME_UNKNOWN:
                    break
                await asyncio.sleep(0.05)
            record = await second.get_instance(mailed)
            print(f"resend is {record.status.value}: {record.blocked_reason}")
            await second.resolve_unknown(mailed, happened=False, answered_by="ops")
            print("resend:", await second.handle(mailed).result(timeout=10))
    assert len(PROVIDER) == 1, "the card was charged once"
    assert RECEIPTS == ["ORD-1", "ORD-0"], "each receipt was sent once"
    print("OK: no side effect ran twice without a decision")


if __name__ == "__main__":
    asyncio.run(main())
