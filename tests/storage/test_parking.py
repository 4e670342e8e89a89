"""Parking a waiting instance (fenced, releases the lease) and finding the earliest wake-up."""

from __future__ import annotations

from datetime import timedelta

from durable_core.storage.sql import SqlStorage
from durable_core.types import InstanceStatus
from tests.storage.support import T0, TTL, new_instance, started

DUE = T0 + timedelta(hours=1)


async def test_park_stores_waiting_releases_the_lease_and_wakes_when_due(storage: SqlStorage) -> None:
    claimed = await started(storage)
    assert await storage.park(claimed.lease, DUE, T0)
    record = await storage.get_instance("inst-1")
    assert record is not None
    assert record.status is InstanceStatus.WAITING and record.wake_at == DUE
    assert record.lease_owner is None and record.lease_expires_at is None
    assert await storage.claim_instance("inst-1", "w2", DUE - timedelta(microseconds=1), TTL) is None
    again = await storage.claim_instance("inst-1", "w2", DUE, TTL)
    assert again is not None and not again.took_over_crashed  # a parked lease was released, not lost
    assert again.instance.status is InstanceStatus.RUNNING and again.instance.wake_at is None


async def test_park_is_fenced(storage: SqlStorage) -> None:
    claimed = await started(storage)
    await storage.release_lease(claimed.lease)
    assert await storage.claim_instance("inst-1", "w2", T0, TTL) is not None
    assert not await storage.park(claimed.lease, DUE, T0)  # the stale owner writes nothing
    record = await storage.get_instance("inst-1")
    assert record is not None and record.status is InstanceStatus.RUNNING and record.lease_owner == "w2"


async def test_park_after_a_cancel_request_wakes_at_once(storage: SqlStorage) -> None:
    claimed = await started(storage)
    await storage.request_cancel("inst-1", "stop", "me", T0)
    assert await storage.park(claimed.lease, DUE, T0)
    assert await storage.next_wake_at(frozenset({"wf"})) == T0
    assert await storage.claim_instance("inst-1", "w2", T0, TTL) is not None


async def test_next_wake_at_is_the_earliest_waiting_timer_of_served_workflows(storage: SqlStorage) -> None:
    assert await storage.next_wake_at(frozenset({"wf"})) is None
    late = await started(storage, "late")
    early = await started(storage, "early")
    other = await started(storage, "other", workflow="other-wf")
    await started(storage, "running")
    assert await storage.next_wake_at(frozenset({"wf"})) is None
    await storage.park(late.lease, DUE + timedelta(hours=1), T0)
    await storage.park(early.lease, DUE, T0)
    await storage.park(other.lease, T0, T0)
    assert await storage.next_wake_at(frozenset({"wf"})) == DUE
    assert await storage.next_wake_at(frozenset({"wf", "other-wf"})) == T0
    assert await storage.next_wake_at(frozenset()) is None
    await storage.create_instance(new_instance("pending"))
    assert await storage.next_wake_at(frozenset({"wf"})) == DUE
