"""Core concepts: a workflow is replayed from its history after a restart.

The first app is shut down while the last step is in flight (as if the process had stopped); a second
app on the same database replays the workflow: the recorded steps are not run again, and the recorded
``ctx.now()`` / ``ctx.uuid()`` values are the same as before. The price look-ups run concurrently with
``asyncio.gather``: each activity takes its history position when it is called, so no manual ids are needed.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path

from durable_core import EddaApp, WorkflowContext, activity, workflow

PRICES = {"apple": 0.5, "bread": 2.25, "cheese": 4.0}
RUNS: Counter[str] = Counter()  # how often each activity body really ran in this process
INVOICE_IDS: list[str] = []  # invoice ids seen by send_invoice, one per attempt
STEP_REACHED = asyncio.Event()
FIRST_APP_STOPPED = asyncio.Event()


@activity
async def fetch_price(ctx: WorkflowContext, sku: str) -> float:
    RUNS[f"fetch_price({sku})"] += 1
    await asyncio.sleep(0.01 * (10 - len(sku)))  # finish in a different order than called
    return PRICES[sku]


@activity
async def send_invoice(ctx: WorkflowContext, invoice_id: str, total: float) -> str:
    RUNS["send_invoice"] += 1
    INVOICE_IDS.append(invoice_id)
    if not FIRST_APP_STOPPED.is_set():  # the first app stops while this step is in flight
        STEP_REACHED.set()
        await asyncio.Event().wait()
    return f"{invoice_id} sent ({total:.2f})"


@workflow
async def invoice(ctx: WorkflowContext, customer: str, skus: list[str]) -> str:
    issued_at = ctx.now()  # durable: recorded once, the same on every replay
    invoice_id = f"INV-{ctx.uuid().hex[:8]}"  # durable as well; never use uuid.uuid4() here
    prices = await asyncio.gather(*(fetch_price(ctx, sku) for sku in skus))
    total = sum(prices)
    receipt = await send_invoice(ctx, invoice_id, total)
    return f"{receipt} to {customer}, issued {issued_at:%Y-%m-%d}"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'concepts.db'}"

        first = EddaApp(db_url, shutdown_timeout=0)
        await first.initialize()
        instance_id = await invoice.start(customer="ada", skus=["apple", "bread", "cheese"])
        await STEP_REACHED.wait()
        print("first app stops while send_invoice is running")
        await first.shutdown()  # the in-flight step is abandoned; its lease is released
        FIRST_APP_STOPPED.set()

        async with EddaApp(db_url) as second:
            print("second app resumes the instance")
            print("result:", await second.handle(instance_id).result(timeout=10))
            for entry in await second.get_history(instance_id):
                print(f"  position {entry.position}: {entry.kind.value:<8} {entry.name}")

    print("activity runs:", dict(RUNS))
    assert all(RUNS[f"fetch_price({sku})"] == 1 for sku in PRICES), "recorded steps must not re-run"
    assert RUNS["send_invoice"] == 2, "the interrupted step runs again"
    assert len(set(INVOICE_IDS)) == 1, "ctx.uuid() is replayed, not drawn again"
    print("OK: recorded steps were replayed, the unfinished one ran again")


if __name__ == "__main__":
    asyncio.run(main())
