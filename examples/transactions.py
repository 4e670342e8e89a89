"""Exactly-once database writes: ``ctx.session`` commits together with the activity's history entry.

An activity's writes through ``ctx.session`` (a SQLAlchemy ``AsyncSession`` on the engine's own database)
are committed in the same transaction that records the activity as done. A failed attempt's writes are
rolled back, so a retried activity never leaves half of its work behind, and a recorded activity is
never run again: its rows exist exactly once.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import sqlalchemy as sa

from durable_core import EddaApp, RetryPolicy, WorkflowContext, activity, workflow

METADATA = sa.MetaData()
LEDGER = sa.Table(
    "ledger",
    METADATA,
    sa.Column("entry_id", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
)


@activity(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01))
async def transfer(ctx: WorkflowContext, transfer_id: str, source: str, target: str, amount: int) -> str:
    session = ctx.session  # do not commit it yourself: the engine commits it with the history entry
    await session.execute(
        sa.insert(LEDGER).values(entry_id=f"{transfer_id}-debit", account=source, amount=-amount)
    )
    if ctx.attempt == 1:  # the first attempt fails after writing half of the transfer ...
        print("  attempt 1 wrote the debit, then failed")
        raise ConnectionError("lost connection to the fraud check")
    await session.execute(
        sa.insert(LEDGER).values(entry_id=f"{transfer_id}-credit", account=target, amount=amount)
    )
    print(f"  attempt {ctx.attempt} wrote debit and credit")
    return f"{transfer_id} done"


@workflow
async def pay_invoice(ctx: WorkflowContext, transfer_id: str, amount: int) -> str:
    return await transfer(ctx, transfer_id, "customer", "merchant", amount)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bank.db"
        # Your own tables live in the same database; create them however you usually do.
        engine = sa.create_engine(f"sqlite:///{path}")
        METADATA.create_all(engine)
        async with EddaApp(f"sqlite:///{path}"):
            print(await pay_invoice.start_and_wait(transfer_id="T-1", amount=30))
        with engine.connect() as conn:
            rows = conn.execute(sa.select(LEDGER).order_by(LEDGER.c.entry_id)).all()
        engine.dispose()
    for row in rows:
        print(f"  {row.entry_id:<10} {row.account:<9} {row.amount:>4}")
    # ... and its debit was rolled back, so the ledger holds each entry once and balances.
    assert [row.entry_id for row in rows] == ["T-1-credit", "T-1-debit"]
    assert sum(row.amount for row in rows) == 0
    print("OK: only the successful attempt's writes were committed")


if __name__ == "__main__":
    asyncio.run(main())
