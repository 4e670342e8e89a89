"""Builders shared by the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from durable_core.storage.schema import INSTANCES
from durable_core.storage.sql import SqlStorage
from durable_core.types import (
    ClaimedInstance,
    HistoryEntry,
    JsonValue,
    NewInstance,
    Payload,
    PayloadEncoding,
    StepKind,
    StepOutcome,
)

T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
TTL = timedelta(seconds=30)


def json_payload(value: JsonValue) -> Payload:
    return Payload(PayloadEncoding.JSON, value)


def new_instance(
    instance_id: str = "inst-1",
    *,
    workflow: str = "wf",
    input: Payload | None = None,
    now: datetime = T0,
    deadline_at: datetime | None = None,
    input_hash: str = "hash-1",
) -> NewInstance:
    return NewInstance(
        instance_id=instance_id,
        workflow_name=workflow,
        input=input if input is not None else json_payload({"x": 1}),
        input_hash=input_hash,
        service_name="svc",
        now=now,
        deadline_at=deadline_at,
    )


def entry(
    instance_id: str = "inst-1",
    position: int = 0,
    *,
    name: str = "step",
    result: Payload | None = None,
    outcome: StepOutcome = StepOutcome.OK,
    recorded_at: datetime | None = T0,
) -> HistoryEntry:
    return HistoryEntry(
        instance_id=instance_id,
        position=position,
        kind=StepKind.ACTIVITY,
        name=name,
        args_hash=f"args-{position}",
        outcome=outcome,
        result=result if result is not None else json_payload(position),
        recorded_at=recorded_at,
    )


async def started(
    storage: SqlStorage, instance_id: str = "inst-1", owner: str = "w1", **kw: Any
) -> ClaimedInstance:
    """Create an instance and claim it."""
    await storage.create_instance(new_instance(instance_id, **kw))
    claimed = await storage.claim_instance(instance_id, owner, T0, TTL)
    assert claimed is not None
    return claimed


async def force(storage: SqlStorage, instance_id: str, **values: Any) -> None:
    """Set columns directly (for states no storage method produces yet, e.g. WAITING with a timer)."""
    async with storage._conns.write() as conn:
        await conn.execute(update(INSTANCES).where(INSTANCES.c.instance_id == instance_id).values(**values))
