"""Claiming, exclusivity, takeover, renewal and fencing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from durable_core.storage.leases import claim_update
from durable_core.storage.sql import SqlStorage
from durable_core.types import (
    ErrorInfo,
    FinishRequest,
    InstanceStatus,
    RecordOutcome,
)
from tests.backends import servers_only
from tests.storage.support import T0, TTL, entry, force, new_instance, started


@pytest.fixture
async def second(storage: SqlStorage, db_url: str) -> AsyncIterator[SqlStorage]:
    """A second storage (its own engine and pool) on the same database, like another process."""
    other = SqlStorage(db_url)
    await other.initialize()
    try:
        yield other
    finally:
        await other.close()


async def test_claim_sets_the_lease_and_runs_pending(storage: SqlStorage) -> None:
    await storage.create_instance(new_instance("a"))
    claimed = await storage.claim_instance("a", "w1", T0, TTL)
    assert claimed is not None
    assert not claimed.took_over_crashed
    assert claimed.lease.epoch == 1 and claimed.lease.owner == "w1" and claimed.lease.expires_at == T0 + TTL
    assert claimed.instance.status is InstanceStatus.RUNNING
    assert claimed.instance == await storage.get_instance("a")
    # held and unexpired: nobody (not even the owner) can claim it again
    assert await storage.claim_instance("a", "w2", T0 + TTL - timedelta(microseconds=1), TTL) is None
    assert await storage.claim_instance("missing", "w2", T0, TTL) is None


async def test_two_concurrent_claimers_exactly_one_wins(storage: SqlStorage, second: SqlStorage) -> None:
    ids = [f"c{i}" for i in range(8)]
    for iid in ids:
        await storage.create_instance(new_instance(iid))
    for iid in ids:
        a, b = await asyncio.gather(
            storage.claim_instance(iid, "A", T0, TTL), second.claim_instance(iid, "B", T0, TTL)
        )
        assert (a is None) != (b is None), iid
        winner = a or b
        assert winner is not None and winner.lease.epoch == 1


async def test_claim_runnable_from_two_storages_returns_disjoint_sets(
    storage: SqlStorage, second: SqlStorage
) -> None:
    ids = {f"r{i:02d}" for i in range(30)}
    for n, iid in enumerate(sorted(ids)):
        await storage.create_instance(new_instance(iid, now=T0 + timedelta(milliseconds=n)))
    await storage.create_instance(new_instance("other-workflow", workflow="not-mine"))
    names = frozenset({"wf"})
    a, b = await asyncio.gather(
        storage.claim_runnable("A", T0, TTL, 20, names), second.claim_runnable("B", T0, TTL, 20, names)
    )
    got_a = {c.instance.instance_id for c in a}
    got_b = {c.instance.instance_id for c in b}
    assert not got_a & got_b
    assert len(got_a) <= 20 and len(got_b) <= 20
    rest = await storage.claim_runnable("C", T0, TTL, 1000, names)
    got_c = {c.instance.instance_id for c in rest}
    assert not got_c & (got_a | got_b)
    assert got_a | got_b | got_c == ids
    assert all(c.lease.owner == "A" for c in a) and all(c.lease.epoch == 1 for c in a + b + rest)
    assert await storage.claim_runnable("D", T0, TTL, 10, names) == []
    assert await storage.claim_runnable("D", T0, TTL, 10, frozenset()) == []
    with pytest.raises(ValueError):
        await storage.claim_runnable("D", T0, TTL, 0, names)


async def test_claim_runnable_takes_oldest_first(storage: SqlStorage) -> None:
    for n in range(5):
        await storage.create_instance(new_instance(f"o{n}", now=T0 - timedelta(seconds=n)))
    claimed = await storage.claim_runnable("w", T0, TTL, 2, frozenset({"wf"}))
    assert [c.instance.instance_id for c in claimed] == ["o4", "o3"]


async def test_runnable_rules(storage: SqlStorage) -> None:
    names = frozenset({"wf"})
    for iid in ("waiting-due", "waiting-later", "waiting-event", "waiting-cancel", "blocked", "done", "comp"):
        await storage.create_instance(new_instance(iid))
    await force(storage, "waiting-due", status="waiting", wake_at=T0)
    await force(storage, "waiting-later", status="waiting", wake_at=T0 + timedelta(seconds=1))
    await force(storage, "waiting-event", status="waiting", wake_at=None)
    await force(storage, "waiting-cancel", status="waiting", wake_at=None, cancel_requested=True)
    await force(storage, "blocked", status="blocked")
    await force(storage, "done", status="completed")
    await force(storage, "comp", status="compensating")
    claimed = {c.instance.instance_id: c for c in await storage.claim_runnable("w", T0, TTL, 100, names)}
    assert set(claimed) == {"waiting-due", "waiting-cancel", "comp"}
    assert claimed["waiting-due"].instance.status is InstanceStatus.RUNNING
    assert claimed["waiting-due"].instance.wake_at is None
    assert claimed["comp"].instance.status is InstanceStatus.COMPENSATING  # stays
    assert claimed["waiting-due"].instance == await storage.get_instance("waiting-due")
    later = await storage.claim_instance("waiting-later", "w", T0 + timedelta(seconds=1), TTL)
    assert later is not None


async def test_expired_lease_is_taken_over_and_counts_a_crash(storage: SqlStorage) -> None:
    old = await started(storage)
    assert await storage.claim_instance("inst-1", "w2", T0 + TTL, TTL) is not None  # expired at expires_at
    record = await storage.get_instance("inst-1")
    assert record is not None and record.lease_owner == "w2" and record.lease_epoch == 2
    assert record.crash_count == 1
    assert old.lease.epoch == 1


async def test_takeover_fences_every_write_of_the_old_owner(storage: SqlStorage) -> None:
    old = await started(storage, owner="w1")
    new = await storage.claim_instance("inst-1", "w2", T0 + TTL + timedelta(seconds=1), TTL)
    assert new is not None
    assert new.took_over_crashed and new.instance.crash_count == 1 and new.lease.epoch == old.lease.epoch + 1

    assert await storage.record_step(old.lease, entry()) is RecordOutcome.LEASE_LOST
    assert await storage.record_attempt(old.lease, 0, 3, ErrorInfo("x:E", "e")) is RecordOutcome.LEASE_LOST
    assert not await storage.set_status(old.lease, InstanceStatus.COMPENSATING, T0)
    assert not await storage.finish(old.lease, FinishRequest(InstanceStatus.COMPLETED), T0)
    assert not await storage.release_lease(old.lease)
    assert await storage.load_history("inst-1") == []
    assert await storage.load_attempts("inst-1") == {}
    record = await storage.get_instance("inst-1")
    assert record is not None and record.status is InstanceStatus.RUNNING and record.lease_owner == "w2"

    # the new owner writes fine
    assert await storage.record_step(new.lease, entry()) is RecordOutcome.RECORDED
    assert await storage.finish(new.lease, FinishRequest(InstanceStatus.COMPLETED), T0)


async def test_same_owner_with_a_stale_epoch_is_fenced(storage: SqlStorage) -> None:
    old = await started(storage, owner="w1")
    again = await storage.claim_instance("inst-1", "w1", T0 + TTL, TTL)
    assert again is not None and again.lease.epoch == 2
    assert await storage.record_step(old.lease, entry()) is RecordOutcome.LEASE_LOST


async def test_release_makes_it_claimable_at_once_without_a_crash(storage: SqlStorage) -> None:
    claimed = await started(storage)
    assert await storage.release_lease(claimed.lease)
    assert not await storage.release_lease(claimed.lease)  # no longer held
    again = await storage.claim_instance("inst-1", "w2", T0, TTL)
    assert again is not None and not again.took_over_crashed and again.instance.crash_count == 0
    assert again.lease.epoch == 2


async def test_renew_leases_extends_held_ones_and_reports_cancels(storage: SqlStorage) -> None:
    a = await started(storage, "a", owner="w1")
    await started(storage, "b", owner="w1")
    await started(storage, "c", owner="w2")
    await storage.request_cancel("b", "stop", "tester", T0)
    later = T0 + timedelta(seconds=20)
    renewal = await storage.renew_leases("w1", ["a", "b", "c", "missing", "a"], later, TTL)
    assert renewal.held == {"a", "b"}
    assert renewal.cancel_requested == {"b"}
    record = await storage.get_instance("a")
    assert (
        record is not None and record.lease_expires_at == later + TTL and record.lease_epoch == a.lease.epoch
    )
    other = await storage.get_instance("c")
    assert other is not None and other.lease_expires_at == T0 + TTL
    empty = await storage.renew_leases("w1", [], later, TTL)
    assert empty.held == frozenset() and empty.cancel_requested == frozenset()


async def test_renewing_many_ids_works_in_chunks(storage: SqlStorage) -> None:
    ids = [f"m{i:04d}" for i in range(1100)]
    renewal = await storage.renew_leases("w1", ids, T0, TTL)
    assert renewal.held == frozenset()


async def test_lease_owners_and_expiring_dead_owners(storage: SqlStorage) -> None:
    await started(storage, "a", owner="dead")
    await started(storage, "b", owner="dead")
    await started(storage, "c", owner="alive")
    assert await storage.lease_owners() == ["alive", "dead"]
    assert await storage.expire_leases_of(["dead", "unknown"], T0) == 2
    assert await storage.expire_leases_of(["dead"], T0) == 0  # already expired
    assert await storage.expire_leases_of([], T0) == 0
    taken = await storage.claim_runnable("new", T0, TTL, 10, frozenset({"wf"}))
    assert {c.instance.instance_id for c in taken} == {"a", "b"}
    assert all(c.took_over_crashed for c in taken)


async def test_set_status(storage: SqlStorage) -> None:
    claimed = await started(storage)
    assert await storage.set_status(claimed.lease, InstanceStatus.COMPENSATING, T0 + timedelta(seconds=1))
    record = await storage.get_instance("inst-1")
    assert record is not None
    assert record.status is InstanceStatus.COMPENSATING and record.updated_at == T0 + timedelta(seconds=1)


async def _lock_waiters(storage: SqlStorage) -> int:
    """Sessions of this database currently waiting for a row lock."""
    if storage.dialect_name == "postgresql":
        sql = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
    else:
        sql = (
            "SELECT count(*) FROM information_schema.innodb_trx t "
            "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
            "WHERE t.trx_state = 'LOCK WAIT' AND p.db = DATABASE()"
        )
    async with storage._conns.read() as conn:
        return int((await conn.execute(text(sql))).scalar() or 0)


@servers_only  # SQLite has a single writer: the claim and the insert cannot overlap
async def test_record_step_serializes_against_a_concurrent_claim(
    backend: str, storage: SqlStorage, second: SqlStorage
) -> None:
    """A takeover that commits while a stale owner's insert waits on the row makes that insert LEASE_LOST."""
    old = await started(storage)
    async with second._conns.engine.connect() as conn:
        trans = await conn.begin()
        await conn.execute(claim_update(["inst-1"], "w2", T0 + TTL, TTL))  # row locked, not committed
        record = asyncio.create_task(storage.record_step(old.lease, entry()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while await _lock_waiters(second) == 0:  # poll for the lock wait (not a fixed sleep)
            assert not record.done(), f"insert did not wait for the claim: {record.result()}"
            assert loop.time() < deadline, "the fenced insert never waited for the row lock"
            await asyncio.sleep(0.01)
        await trans.commit()
    assert await record is RecordOutcome.LEASE_LOST
    assert await storage.load_history("inst-1") == []
