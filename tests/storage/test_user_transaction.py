"""``ctx.session`` writes commit together with the history entry, or not at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from durable_core.storage.sql import SqlStorage
from durable_core.types import RecordOutcome
from tests.storage.support import T0, TTL, entry, started

METADATA = sa.MetaData()
ORDERS = sa.Table(
    "test_orders",
    METADATA,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("amount", sa.Integer, nullable=False),
)


@pytest.fixture
async def orders(storage: SqlStorage) -> AsyncIterator[SqlStorage]:
    async with storage._conns.write() as conn:
        await conn.run_sync(METADATA.create_all)
    yield storage


async def _order_ids(storage: SqlStorage) -> list[str]:
    async with storage._conns.read() as conn:
        return sorted(r[0] for r in (await conn.execute(sa.select(ORDERS.c.order_id))).all())


async def test_user_rows_commit_with_the_step(orders: SqlStorage) -> None:
    claimed = await started(orders)
    async with orders.user_transaction() as tx:
        await tx.session.execute(sa.insert(ORDERS).values(order_id="o1", amount=5))
        assert tx.used
        assert await orders.record_step(claimed.lease, entry(), tx=tx) is RecordOutcome.RECORDED
    assert await _order_ids(orders) == ["o1"]
    assert len(await orders.load_history("inst-1")) == 1


async def test_pending_orm_style_adds_are_flushed_before_the_step(orders: SqlStorage) -> None:
    claimed = await started(orders)
    tx = orders.begin_user_transaction()
    try:
        await tx.session.execute(
            sa.insert(ORDERS), [{"order_id": "a", "amount": 1}, {"order_id": "b", "amount": 2}]
        )
        assert await orders.record_step(claimed.lease, entry(), tx=tx) is RecordOutcome.RECORDED
    finally:
        await tx.close()
        await tx.close()  # idempotent
    assert await _order_ids(orders) == ["a", "b"]


async def test_user_rows_roll_back_when_the_step_is_not_recorded(orders: SqlStorage) -> None:
    await started(orders)
    async with orders.user_transaction() as tx:
        await tx.session.execute(sa.insert(ORDERS).values(order_id="o1", amount=5))
    assert await _order_ids(orders) == []
    assert await orders.load_history("inst-1") == []


async def test_user_rows_roll_back_when_the_lease_was_lost(orders: SqlStorage) -> None:
    old = await started(orders)
    assert await orders.claim_instance("inst-1", "w2", T0 + TTL + timedelta(seconds=1), TTL) is not None
    async with orders.user_transaction() as tx:
        await tx.session.execute(sa.insert(ORDERS).values(order_id="o1", amount=5))
        assert await orders.record_step(old.lease, entry(), tx=tx) is RecordOutcome.LEASE_LOST
    assert await _order_ids(orders) == []
    assert await orders.load_history("inst-1") == []


async def test_user_rows_roll_back_on_a_position_conflict(orders: SqlStorage) -> None:
    claimed = await started(orders)
    assert await orders.record_step(claimed.lease, entry()) is RecordOutcome.RECORDED
    async with orders.user_transaction() as tx:
        await tx.session.execute(sa.insert(ORDERS).values(order_id="o1", amount=5))
        assert await orders.record_step(claimed.lease, entry(), tx=tx) is RecordOutcome.CONFLICT
    assert await _order_ids(orders) == []


async def test_an_unused_transaction_records_normally(orders: SqlStorage) -> None:
    claimed = await started(orders)
    async with orders.user_transaction() as tx:
        assert not tx.used
        assert await orders.record_step(claimed.lease, entry(), tx=tx) is RecordOutcome.RECORDED
    assert len(await orders.load_history("inst-1")) == 1


async def test_a_finished_transaction_cannot_be_reused(orders: SqlStorage) -> None:
    claimed = await started(orders)
    async with orders.user_transaction() as tx:
        await tx.session.execute(sa.insert(ORDERS).values(order_id="o1", amount=5))
        assert await orders.record_step(claimed.lease, entry(position=0), tx=tx) is RecordOutcome.RECORDED
        with pytest.raises(RuntimeError):
            await orders.record_step(claimed.lease, entry(position=1), tx=tx)
        with pytest.raises(RuntimeError):
            tx.session  # noqa: B018


async def test_a_transaction_of_another_storage_is_refused(orders: SqlStorage, db_url: str) -> None:
    claimed = await started(orders)
    other = SqlStorage(db_url)
    try:
        async with other.user_transaction() as tx:
            with pytest.raises(ValueError):
                await orders.record_step(claimed.lease, entry(), tx=tx)
    finally:
        await other.close()
