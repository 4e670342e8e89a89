"""Finishing, cancellation requests, resuming blocked instances and purging."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_core.storage import purge as purge_module
from durable_core.storage.sql import SqlStorage
from durable_core.types import (
    CancelOutcome,
    ErrorInfo,
    FinishRequest,
    InstanceStatus,
    RecordOutcome,
)
from tests.storage.support import T0, TTL, entry, force, json_payload, new_instance, started

LATER = T0 + timedelta(minutes=5)


async def test_finish_writes_the_final_state_and_releases(storage: SqlStorage) -> None:
    claimed = await started(storage)
    request = FinishRequest(InstanceStatus.COMPLETED, output=json_payload({"ok": True}))
    assert await storage.finish(claimed.lease, request, LATER)
    record = await storage.get_instance("inst-1")
    assert record is not None
    assert record.status is InstanceStatus.COMPLETED and record.output == json_payload({"ok": True})
    assert record.finished_at == LATER and record.updated_at == LATER
    assert record.lease_owner is None and record.lease_expires_at is None
    assert not await storage.finish(claimed.lease, request, LATER)  # lease already released
    assert await storage.claim_instance("inst-1", "w2", LATER, TTL) is None  # finished: never runnable


async def test_finish_blocked_keeps_it_unfinished(storage: SqlStorage) -> None:
    claimed = await started(storage)
    error = ErrorInfo("durable_core.errors:NonDeterminismError", "position 0 expected a, got b")
    request = FinishRequest(InstanceStatus.BLOCKED, error=error, blocked_reason="position 0: a != b")
    assert await storage.finish(claimed.lease, request, LATER)
    record = await storage.get_instance("inst-1")
    assert record is not None
    assert record.status is InstanceStatus.BLOCKED and record.finished_at is None
    assert record.blocked_reason == "position 0: a != b" and record.error == error
    assert await storage.claim_instance("inst-1", "w2", LATER, TTL) is None


async def test_request_cancel_outcomes(storage: SqlStorage) -> None:
    assert await storage.request_cancel("missing", "r", "me", T0) is CancelOutcome.NOT_FOUND
    await storage.create_instance(new_instance("p"))
    assert await storage.request_cancel("p", "too slow", "alice", LATER) is CancelOutcome.REQUESTED
    record = await storage.get_instance("p")
    assert record is not None
    assert record.cancel_requested and record.cancel_reason == "too slow" and record.cancelled_by == "alice"
    assert record.wake_at == LATER and record.status is InstanceStatus.PENDING
    assert await storage.request_cancel("p", "again", "bob", LATER) is CancelOutcome.ALREADY_REQUESTED
    record = await storage.get_instance("p")
    assert record is not None and record.cancel_reason == "too slow" and record.cancelled_by == "alice"

    claimed = await started(storage, "done")
    await storage.finish(claimed.lease, FinishRequest(InstanceStatus.COMPLETED), T0)
    assert await storage.request_cancel("done", "r", "me", T0) is CancelOutcome.ALREADY_FINISHED


async def test_cancel_makes_a_waiting_instance_runnable(storage: SqlStorage) -> None:
    await storage.create_instance(new_instance("w"))
    await force(storage, "w", status="waiting", wake_at=T0 + timedelta(days=7))
    assert await storage.claim_instance("w", "x", LATER, TTL) is None
    assert await storage.request_cancel("w", "stop", "me", LATER) is CancelOutcome.REQUESTED
    claimed = await storage.claim_instance("w", "x", LATER, TTL)
    assert claimed is not None and claimed.instance.cancel_requested


async def test_cancel_of_a_running_instance_is_seen_by_its_owner(storage: SqlStorage) -> None:
    claimed = await started(storage)
    assert await storage.request_cancel("inst-1", "stop", "me", T0) is CancelOutcome.REQUESTED
    record = await storage.get_instance("inst-1")
    assert record is not None and record.lease_owner == "w1"  # the owner keeps running it...
    renewal = await storage.renew_leases("w1", ["inst-1"], T0, TTL)
    assert renewal.cancel_requested == {"inst-1"}  # ...and learns about the request
    assert await storage.record_step(claimed.lease, entry()) is RecordOutcome.RECORDED


async def test_cancel_of_a_blocked_instance_makes_it_run_again(storage: SqlStorage) -> None:
    claimed = await started(storage)
    await storage.finish(claimed.lease, FinishRequest(InstanceStatus.BLOCKED, blocked_reason="nd"), T0)
    assert await storage.request_cancel("inst-1", "give up", "ops", LATER) is CancelOutcome.REQUESTED
    record = await storage.get_instance("inst-1")
    assert record is not None and record.status is InstanceStatus.RUNNING and record.cancel_requested
    again = await storage.claim_instance("inst-1", "w2", LATER, TTL)
    assert again is not None and again.instance.cancel_requested and not again.took_over_crashed


async def test_cancel_requested_before_blocking_still_unblocks(storage: SqlStorage) -> None:
    claimed = await started(storage)
    assert await storage.request_cancel("inst-1", "stop", "me", T0) is CancelOutcome.REQUESTED
    await storage.finish(claimed.lease, FinishRequest(InstanceStatus.BLOCKED, blocked_reason="nd"), T0)
    assert await storage.request_cancel("inst-1", "stop", "me", T0) is CancelOutcome.ALREADY_REQUESTED
    record = await storage.get_instance("inst-1")
    assert record is not None and record.status is InstanceStatus.RUNNING


async def test_resume_blocked(storage: SqlStorage) -> None:
    claimed = await started(storage)
    assert not await storage.resume_blocked("inst-1", T0)  # running, not blocked
    assert not await storage.resume_blocked("missing", T0)
    await storage.finish(claimed.lease, FinishRequest(InstanceStatus.BLOCKED, blocked_reason="nd"), T0)
    assert await storage.resume_blocked("inst-1", LATER)
    record = await storage.get_instance("inst-1")
    assert record is not None
    assert (
        record.status is InstanceStatus.RUNNING
        and record.blocked_reason is None
        and record.updated_at == LATER
    )
    assert await storage.claim_instance("inst-1", "w2", LATER, TTL) is not None
    assert not await storage.resume_blocked("inst-1", LATER)


async def _finished(storage: SqlStorage, iid: str, at: timedelta, status: InstanceStatus) -> None:
    claimed = await started(storage, iid)
    await storage.record_step(claimed.lease, entry(iid, 0))
    await storage.record_attempt(claimed.lease, 1, 2, None)
    await storage.finish(claimed.lease, FinishRequest(status), T0 + at)


async def test_purge_deletes_old_finished_instances_in_batches(
    storage: SqlStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(purge_module, "PURGE_BATCH", 2)
    for n, status in enumerate(
        [InstanceStatus.COMPLETED, InstanceStatus.FAILED, InstanceStatus.CANCELLED] * 2
    ):
        await _finished(storage, f"old{n}", timedelta(minutes=n), status)
    await _finished(storage, "recent", timedelta(days=2), InstanceStatus.COMPLETED)
    await started(storage, "running")
    blocked = await started(storage, "blocked")
    await storage.finish(blocked.lease, FinishRequest(InstanceStatus.BLOCKED), T0)
    cutoff = T0 + timedelta(days=1)

    assert await storage.purge_finished(cutoff, 5) == 5
    assert await storage.purge_finished(cutoff, 5) == 1
    assert await storage.purge_finished(cutoff, 5) == 0
    for n in range(6):
        assert await storage.get_instance(f"old{n}") is None
        assert await storage.load_history(f"old{n}") == []
        assert await storage.load_attempts(f"old{n}") == {}
    for kept in ("recent", "running", "blocked"):
        assert await storage.get_instance(kept) is not None
    assert len(await storage.load_history("recent")) == 1
    with pytest.raises(ValueError):
        await storage.purge_finished(cutoff, 0)
