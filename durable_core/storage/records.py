"""Conversion between rows and the frozen dataclasses of :mod:`durable_core.types`, in one place.

Rows come in as SQLAlchemy ``RowMapping``; values to write go out as ``dict[str, Any]`` keyed by column
name. Nothing outside storage ever sees either.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from durable_core.run_control import PAUSABLE_STATUSES
from durable_core.types import (
    NO_PAYLOAD,
    AttemptState,
    ErrorInfo,
    HistoryEntry,
    InstanceRecord,
    InstanceStatus,
    JsonValue,
    NewInstance,
    Payload,
    PayloadEncoding,
    RetryInfo,
    StepKind,
    StepOutcome,
)

__all__ = [
    "attempt_from_row",
    "error_from_json",
    "error_to_json",
    "history_from_row",
    "history_values",
    "instance_from_row",
    "new_instance_record",
    "new_instance_values",
    "payload_from_row",
    "payload_values",
    "retry_from_json",
    "retry_to_json",
    "shown_status",
    "utc",
]


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _utc_opt(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


# -- payloads ----------------------------------------------------------------------------------------
def payload_values(prefix: str, payload: Payload) -> dict[str, Any]:
    """Column values of a payload stored under ``prefix`` (``input``, ``output``, ``result``)."""
    blob = payload.blob
    return {
        f"{prefix}_encoding": payload.encoding.value,
        f"{prefix}_json": payload.json_value,
        f"{prefix}_blob": bytes(blob) if blob is not None else None,
    }


def payload_from_row(row: Mapping[Any, Any], prefix: str) -> Payload:
    """Rebuild the payload stored under ``prefix`` of ``row``."""
    encoding = PayloadEncoding(row[f"{prefix}_encoding"])
    json_value: JsonValue = row[f"{prefix}_json"]
    blob = row[f"{prefix}_blob"]
    if encoding is PayloadEncoding.NONE and json_value is None and blob is None:
        return NO_PAYLOAD
    return Payload(encoding, json_value, bytes(blob) if blob is not None else None)


# -- errors and retries ------------------------------------------------------------------------------
def error_to_json(error: ErrorInfo | None) -> dict[str, JsonValue] | None:
    """Serialize an :class:`ErrorInfo` (and its cause chain) to a JSON object."""
    if error is None:
        return None
    return {
        "type": error.type_name,
        "message": error.message,
        "args": error.args,
        "traceback": error.traceback,
        "cause": error_to_json(error.cause),
    }


def error_from_json(data: Any) -> ErrorInfo | None:
    """Rebuild an :class:`ErrorInfo` written by :func:`error_to_json`."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"stored error is not a JSON object: {data!r}")
    return ErrorInfo(
        type_name=str(data.get("type", "")),
        message=str(data.get("message", "")),
        args=data.get("args"),
        traceback=str(data.get("traceback") or ""),
        cause=error_from_json(data.get("cause")),
    )


def retry_to_json(retry: RetryInfo | None) -> dict[str, JsonValue] | None:
    """Serialize a :class:`RetryInfo` to a JSON object."""
    if retry is None:
        return None
    return {
        "total_attempts": retry.total_attempts,
        "total_duration_ms": retry.total_duration_ms,
        "exhausted": retry.exhausted,
        "errors": [error_to_json(e) for e in retry.errors],
        "delays_ms": list(retry.delays_ms),
    }


def retry_from_json(data: Any) -> RetryInfo | None:
    """Rebuild a :class:`RetryInfo` written by :func:`retry_to_json`."""
    if data is None:
        return None
    errors = tuple(e for e in (error_from_json(x) for x in data.get("errors") or ()) if e is not None)
    return RetryInfo(
        total_attempts=int(data["total_attempts"]),
        total_duration_ms=int(data["total_duration_ms"]),
        exhausted=bool(data.get("exhausted", False)),
        errors=errors,
        delays_ms=tuple(int(d) for d in data.get("delays_ms") or ()),
    )


# -- instances ---------------------------------------------------------------------------------------
def new_instance_values(new: NewInstance) -> dict[str, Any]:
    """Column values of a new PENDING instance."""
    now = utc(new.now)
    return {
        "instance_id": new.instance_id,
        "workflow_name": new.workflow_name,
        "service_name": new.service_name,
        "status": (InstanceStatus.RUNNING if new.lease_owner else InstanceStatus.PENDING).value,
        **payload_values("input", new.input),
        "input_hash": new.input_hash,
        **payload_values("output", NO_PAYLOAD),
        "error": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
        "deadline_at": _utc_opt(new.deadline_at),
        "wake_at": None,
        "lease_owner": new.lease_owner,
        "lease_epoch": 1 if new.lease_owner else 0,
        "lease_expires_at": _utc_opt(new.lease_expires_at) if new.lease_owner else None,
        "cancel_requested": False,
        "cancel_reason": None,
        "cancelled_by": None,
        "blocked_reason": None,
        "crash_count": 0,
        "parent_instance_id": new.parent_instance_id,
        "app_version": new.app_version,
        "last_run_version": new.app_version,
        "replay_frontier": None,
        **queue_values(new.queue),
        "paused": False,
        "forked_from": None,
        "forked_at": None,
        "singleton_key": None,
    }


def queue_values(queue: tuple[str, str | None, int] | None) -> dict[str, Any]:
    """The queue columns of a new instance (all NULL when it is not queued)."""
    name, key, priority = queue if queue is not None else (None, None, None)
    return {"queue_name": name, "queue_key": key, "priority": priority, "queue_admitted_at": None}


def new_instance_record(new: NewInstance) -> InstanceRecord:
    """The record :func:`new_instance_values` stores, without reading it back."""
    now = utc(new.now)
    return InstanceRecord(
        instance_id=new.instance_id,
        workflow_name=new.workflow_name,
        status=InstanceStatus.RUNNING if new.lease_owner else InstanceStatus.PENDING,
        input=new.input,
        input_hash=new.input_hash,
        created_at=now,
        updated_at=now,
        deadline_at=_utc_opt(new.deadline_at),
        service_name=new.service_name,
        lease_owner=new.lease_owner,
        lease_epoch=1 if new.lease_owner else 0,
        lease_expires_at=_utc_opt(new.lease_expires_at) if new.lease_owner else None,
        parent_instance_id=new.parent_instance_id,
        app_version=new.app_version,
        last_run_version=new.app_version,
        queue_name=new.queue[0] if new.queue is not None else None,
    )


def shown_status(stored: InstanceStatus, paused: bool) -> InstanceStatus:
    """The status users see: PAUSED for a paused instance that is not finished, blocked or unknown.

    The stored ``status`` column keeps what the run left (RUNNING, WAITING...), so unpausing simply clears
    the flag; a worker never writes the flag, so no stale run can undo a pause.
    """
    return InstanceStatus.PAUSED if paused and stored in PAUSABLE_STATUSES else stored


def instance_from_row(row: Mapping[Any, Any]) -> InstanceRecord:
    """Build an :class:`InstanceRecord` from a full ``edda_instances`` row."""
    return InstanceRecord(
        instance_id=row["instance_id"],
        workflow_name=row["workflow_name"],
        status=shown_status(InstanceStatus(row["status"]), bool(row.get("paused", False))),
        input=payload_from_row(row, "input"),
        input_hash=row["input_hash"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        output=payload_from_row(row, "output"),
        error=error_from_json(row["error"]),
        finished_at=row["finished_at"],
        deadline_at=row["deadline_at"],
        wake_at=row["wake_at"],
        lease_owner=row["lease_owner"],
        lease_epoch=int(row["lease_epoch"]),
        lease_expires_at=row["lease_expires_at"],
        cancel_requested=bool(row["cancel_requested"]),
        cancel_reason=row["cancel_reason"],
        cancelled_by=row["cancelled_by"],
        blocked_reason=row["blocked_reason"],
        service_name=row["service_name"],
        crash_count=int(row["crash_count"]),
        parent_instance_id=row.get("parent_instance_id"),
        app_version=row.get("app_version"),
        last_run_version=row.get("last_run_version"),
        replay_frontier=row.get("replay_frontier"),
        queue_name=row.get("queue_name"),
        paused=bool(row.get("paused", False)),
        forked_from=row.get("forked_from"),
        forked_at=row.get("forked_at"),
        singleton_key=row.get("singleton_key"),
    )


# -- history -----------------------------------------------------------------------------------------
def history_values(entry: HistoryEntry) -> dict[str, Any]:
    """Column values of a history entry, in table column order."""
    return {
        "instance_id": entry.instance_id,
        "position": entry.position,
        "kind": entry.kind.value,
        "name": entry.name,
        "args_hash": entry.args_hash,
        "outcome": entry.outcome.value,
        **payload_values("result", entry.result),
        "error": error_to_json(entry.error),
        "retry": retry_to_json(entry.retry),
        "recorded_at": _utc_opt(entry.recorded_at),
    }


def history_from_row(row: Mapping[Any, Any]) -> HistoryEntry:
    """Build a :class:`HistoryEntry` from an ``edda_history`` row."""
    return HistoryEntry(
        instance_id=row["instance_id"],
        position=int(row["position"]),
        kind=StepKind(row["kind"]),
        name=row["name"],
        args_hash=row["args_hash"],
        outcome=StepOutcome(row["outcome"]),
        result=payload_from_row(row, "result"),
        error=error_from_json(row["error"]),
        retry=retry_from_json(row["retry"]),
        recorded_at=row["recorded_at"],
    )


def attempt_from_row(row: Mapping[Any, Any]) -> AttemptState:
    """Build an :class:`AttemptState` from an ``edda_attempts`` row."""
    return AttemptState(
        position=int(row["position"]),
        attempts=int(row["attempts"]),
        last_error=error_from_json(row["last_error"]),
    )
