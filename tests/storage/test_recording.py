"""Recording history entries and attempt counters."""

from __future__ import annotations

import asyncio
import dataclasses

from durable_core.storage.sql import SqlStorage
from durable_core.types import (
    AttemptState,
    ErrorInfo,
    HistoryEntry,
    InstanceProgress,
    RecordOutcome,
    RetryInfo,
    StepKind,
    StepOutcome,
)
from tests.storage.support import T0, entry, json_payload, started


async def test_record_and_load_history_in_order(storage: SqlStorage) -> None:
    claimed = await started(storage)
    entries = [entry(position=p, name=f"s{p}") for p in (2, 0, 1)]
    for e in entries:
        assert await storage.record_step(claimed.lease, e) is RecordOutcome.RECORDED
    assert await storage.load_history("inst-1") == sorted(entries, key=lambda e: e.position)
    assert await storage.get_entry("inst-1", 1) == entries[2]
    assert await storage.get_entry("inst-1", 9) is None
    assert await storage.get_progress("inst-1") == InstanceProgress(
        steps_completed=3, last_completed_step="s2"
    )
    assert await storage.get_progress("missing") == InstanceProgress(
        steps_completed=0, last_completed_step=None
    )


async def test_progress_counts_steps_not_internal_values(storage: SqlStorage) -> None:
    claimed = await started(storage)
    kinds = [StepKind.NOW, StepKind.ACTIVITY, StepKind.UUID, StepKind.TIMER, StepKind.RANDOM]
    for position, kind in enumerate(kinds):
        recorded = dataclasses.replace(entry(position=position, name=f"{kind.value}-{position}"), kind=kind)
        assert await storage.record_step(claimed.lease, recorded) is RecordOutcome.RECORDED
    progress = await storage.get_progress("inst-1")
    assert progress == InstanceProgress(steps_completed=2, last_completed_step="timer-3")
    assert progress.last_step == "timer-3"  # the older name


async def test_full_entry_round_trip(storage: SqlStorage) -> None:
    claimed = await started(storage)
    error = ErrorInfo(
        "app:Boom", "boom", args=["x"], traceback="tb", cause=ErrorInfo("builtins:OSError", "io")
    )
    full = HistoryEntry(
        instance_id="inst-1",
        position=0,
        kind=StepKind.COMPENSATION,
        name="refund " * 50,
        args_hash="sha256:" + "f" * 64,
        outcome=StepOutcome.ERROR,
        result=json_payload(None),
        error=error,
        retry=RetryInfo(total_attempts=3, total_duration_ms=1234, exhausted=True, errors=(error, error)),
        recorded_at=T0,
    )
    minimal = HistoryEntry("inst-1", 1, StepKind.NOW, "now", "", StepOutcome.OK, recorded_at=None)
    assert await storage.record_step(claimed.lease, full) is RecordOutcome.RECORDED
    assert await storage.record_step(claimed.lease, minimal) is RecordOutcome.RECORDED
    assert await storage.load_history("inst-1") == [full, minimal]


async def test_duplicate_position_is_a_conflict_and_keeps_the_first(storage: SqlStorage) -> None:
    claimed = await started(storage)
    first = entry(result=json_payload("first"))
    assert await storage.record_step(claimed.lease, first) is RecordOutcome.RECORDED
    second = entry(result=json_payload("second"))
    assert await storage.record_step(claimed.lease, second) is RecordOutcome.CONFLICT
    assert await storage.load_history("inst-1") == [first]


async def test_concurrent_records_of_one_position_one_wins(storage: SqlStorage) -> None:
    claimed = await started(storage)
    outcomes = await asyncio.gather(
        *(storage.record_step(claimed.lease, entry(result=json_payload(i))) for i in range(4))
    )
    assert sorted(outcomes) == sorted([RecordOutcome.RECORDED] + [RecordOutcome.CONFLICT] * 3)
    assert len(await storage.load_history("inst-1")) == 1


async def test_concurrent_records_of_different_positions(storage: SqlStorage) -> None:
    claimed = await started(storage)
    outcomes = await asyncio.gather(
        *(storage.record_step(claimed.lease, entry(position=p)) for p in range(6))
    )
    assert set(outcomes) == {RecordOutcome.RECORDED}
    assert [e.position for e in await storage.load_history("inst-1")] == list(range(6))


async def test_recording_for_a_missing_or_unleased_instance_is_lease_lost(storage: SqlStorage) -> None:
    claimed = await started(storage)
    assert await storage.release_lease(claimed.lease)
    assert await storage.record_step(claimed.lease, entry()) is RecordOutcome.LEASE_LOST
    assert await storage.load_history("inst-1") == []


async def test_attempt_counters_upsert_and_survive(storage: SqlStorage) -> None:
    claimed = await started(storage)
    error = ErrorInfo("builtins:TimeoutError", "slow")
    assert await storage.record_attempt(claimed.lease, 3, 1, error) is RecordOutcome.RECORDED
    assert await storage.record_attempt(claimed.lease, 3, 2, None) is RecordOutcome.RECORDED
    assert await storage.record_attempt(claimed.lease, 3, 2, None) is RecordOutcome.RECORDED  # unchanged row
    assert await storage.record_attempt(claimed.lease, 5, 1, error) is RecordOutcome.RECORDED
    assert await storage.load_attempts("inst-1") == {
        3: AttemptState(position=3, attempts=2, last_error=None),
        5: AttemptState(position=5, attempts=1, last_error=error),
    }
    assert await storage.load_attempts("missing") == {}
