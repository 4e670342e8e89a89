"""Worker liveness rows and the dead-owner takeover rule, on every backend.

Liveness is judged by the database's clock, so these tests move a worker's row into the past or the
future relative to *database* now (``DatabaseNow(offset)``) instead of passing times in; the lease
times they pass (``T0``) are the engine clock's and stay unexpired throughout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from durable_core.storage.dbtime import DatabaseNow
from durable_core.storage.liveness import FORGET_DEAD_AFTER, SqlLiveness
from durable_core.storage.schema import WORKERS
from durable_core.storage.sql import SqlStorage
from durable_core.types import RecordOutcome
from tests.storage.support import T0, TTL, entry, new_instance, started

LIVENESS_TTL = timedelta(seconds=60)
BEFORE_LEASE_EXPIRY = T0 + timedelta(seconds=1)  # engine-clock time at which every lease still holds


@pytest.fixture
async def liveness(storage: SqlStorage, db_url: str) -> AsyncIterator[SqlLiveness]:
    """A heartbeat store on the (migrated) database of ``storage``."""
    store = SqlLiveness(db_url)
    try:
        yield store
    finally:
        await store.close()


async def _expire_row(storage: SqlStorage, worker_id: str, ago: timedelta = timedelta(seconds=1)) -> None:
    """Make the worker's row expire ``ago`` before database now (as if its beats had stopped)."""
    async with storage._conns.write() as conn:
        stmt = update(WORKERS).where(WORKERS.c.worker_id == worker_id).values(expires_at=DatabaseNow(-ago))
        assert (await conn.execute(stmt)).rowcount == 1


async def _row_ids(storage: SqlStorage) -> set[str]:
    async with storage._conns.read() as conn:
        return {row[0] for row in (await conn.execute(select(WORKERS.c.worker_id))).all()}


async def test_register_uses_the_database_clock(liveness: SqlLiveness) -> None:
    await liveness.register("w1", LIVENESS_TTL)
    left = await liveness.expires_in("w1")
    assert left is not None and LIVENESS_TTL - timedelta(seconds=10) < left <= LIVENESS_TTL
    assert await liveness.expires_in("nobody") is None


async def test_a_live_owner_keeps_its_unexpired_lease(storage: SqlStorage, liveness: SqlLiveness) -> None:
    await liveness.register("w1", LIVENESS_TTL)
    await started(storage, owner="w1")
    assert await storage.claim_instance("inst-1", "w2", BEFORE_LEASE_EXPIRY, TTL) is None
    assert await storage.claim_runnable("w2", BEFORE_LEASE_EXPIRY, TTL, 10, frozenset({"wf"})) == []
    assert await liveness.beat("w1", LIVENESS_TTL)
    assert await storage.claim_instance("inst-1", "w2", BEFORE_LEASE_EXPIRY, TTL) is None


async def test_a_dead_owner_is_taken_over_before_its_lease_expires(
    storage: SqlStorage, liveness: SqlLiveness
) -> None:
    await liveness.register("w1", LIVENESS_TTL)
    old = await started(storage, owner="w1")
    await _expire_row(storage, "w1")
    taken = await storage.claim_runnable("w2", BEFORE_LEASE_EXPIRY, TTL, 10, frozenset({"wf"}))
    assert [c.lease.instance_id for c in taken] == ["inst-1"]
    new = taken[0]
    assert new.took_over_crashed and new.lease.epoch == old.lease.epoch + 1
    assert new.instance == await storage.get_instance("inst-1")
    assert new.instance.crash_count == 1 and new.instance.lease_owner == "w2"
    # fencing is unchanged: the dead owner can write nothing, the new one can
    assert await storage.record_step(old.lease, entry()) is RecordOutcome.LEASE_LOST
    assert await storage.record_step(new.lease, entry()) is RecordOutcome.RECORDED
    # and the new owner (no row: judged by its lease) is not taken over in turn
    assert await storage.claim_instance("inst-1", "w3", BEFORE_LEASE_EXPIRY, TTL) is None


async def test_an_owner_without_a_row_is_judged_by_its_lease(storage: SqlStorage) -> None:
    await started(storage, owner="old-code-worker")
    assert await storage.claim_instance("inst-1", "w2", BEFORE_LEASE_EXPIRY, TTL) is None
    assert await storage.claim_instance("inst-1", "w2", T0 + TTL, TTL) is not None  # expired


async def test_a_beat_never_revives_an_expired_row(storage: SqlStorage, liveness: SqlLiveness) -> None:
    await liveness.register("w1", LIVENESS_TTL)
    await started(storage, owner="w1")
    await _expire_row(storage, "w1")
    assert not await liveness.beat("w1", LIVENESS_TTL)
    left = await liveness.expires_in("w1")
    assert left is not None and left <= timedelta(0)
    assert not await liveness.beat("never-registered", LIVENESS_TTL)
    assert await storage.claim_instance("inst-1", "w2", BEFORE_LEASE_EXPIRY, TTL) is not None


async def test_revive_frees_the_leases_then_makes_the_worker_alive(
    storage: SqlStorage, liveness: SqlLiveness
) -> None:
    await liveness.register("w1", LIVENESS_TTL)
    a = await started(storage, "a", owner="w1")
    await started(storage, "b", owner="w1")
    await started(storage, "other", owner="w9")
    await _expire_row(storage, "w1")
    assert await liveness.revive("w1", LIVENESS_TTL) == 2
    left = await liveness.expires_in("w1")
    assert left is not None and left > LIVENESS_TTL - timedelta(seconds=10)
    assert await liveness.beat("w1", LIVENESS_TTL)
    claimed = await storage.claim_runnable("w2", BEFORE_LEASE_EXPIRY, TTL, 10, frozenset({"wf"}))
    assert sorted(c.lease.instance_id for c in claimed) == ["a", "b"]  # w9's lease still holds
    assert all(c.took_over_crashed and c.lease.epoch == 2 for c in claimed)
    assert await storage.record_step(a.lease, entry("a")) is RecordOutcome.LEASE_LOST


async def test_revive_recreates_a_row_that_was_cleared(storage: SqlStorage, liveness: SqlLiveness) -> None:
    assert await liveness.revive("w1", LIVENESS_TTL) == 0
    assert await liveness.beat("w1", LIVENESS_TTL)


async def test_retire_lets_leftover_leases_go_at_once(storage: SqlStorage, liveness: SqlLiveness) -> None:
    await liveness.register("w1", LIVENESS_TTL)
    await started(storage, owner="w1")
    await liveness.retire("w1")
    assert not await liveness.beat("w1", LIVENESS_TTL)
    assert await storage.claim_instance("inst-1", "w2", BEFORE_LEASE_EXPIRY, TTL) is not None


async def test_register_forgets_long_dead_workers_that_hold_no_lease(
    storage: SqlStorage, liveness: SqlLiveness
) -> None:
    for worker in ("dead-idle", "dead-leasing", "recently-dead"):
        await liveness.register(worker, LIVENESS_TTL)
    await storage.create_instance(new_instance("held"))
    assert await storage.claim_instance("held", "dead-leasing", T0, TTL) is not None
    long_ago = FORGET_DEAD_AFTER + timedelta(minutes=1)
    await _expire_row(storage, "dead-idle", long_ago)
    await _expire_row(storage, "dead-leasing", long_ago)
    await _expire_row(storage, "recently-dead")
    await liveness.register("newcomer", LIVENESS_TTL)
    assert await _row_ids(storage) == {"dead-leasing", "recently-dead", "newcomer"}


async def test_in_memory_sqlite_has_no_heartbeat() -> None:
    with pytest.raises(ValueError, match="in-memory SQLite"):
        SqlLiveness("sqlite:///:memory:")
    for url in ("sqlite:///:memory:", "sqlite:///unused.db"):
        storage = SqlStorage(url)
        try:
            assert storage.liveness_factory() is None  # SQLite: one host, dead local owners at start-up
        finally:
            await storage.close()
