"""The exported form of an instance and its history (``edda-mcp instances export``), for golden tests.

Format ``edda-history`` version 1, a JSON object::

    {
      "format": "edda-history",
      "format_version": 1,
      "instance": {"instance_id": ..., "workflow_name": ..., "status": ..., "input": PAYLOAD,
                   "input_hash": ..., "created_at": ISO-8601, "updated_at": ..., "finished_at": ...,
                   "output": PAYLOAD, "error": ERROR, "blocked_reason": ..., "service_name": ...,
                   "parent_instance_id": ..., "app_version": ..., "last_run_version": ...,
                   "replay_frontier": ...},
      "history": [{"position": 0, "kind": "activity", "name": ..., "args_hash": ..., "outcome": "ok",
                   "result": PAYLOAD, "error": ERROR, "retry": RETRY, "recorded_at": ...}, ...]
    }

A PAYLOAD is the value as stored: ``{"encoding": "json", "json": <the JSON value>}``, ``{"encoding":
"none"}``, or for bytes and payloads passed through a payload codec ``{"encoding": "bytes" |
"codec-json" | "codec-bytes", "base64": "..."}`` (replaying codec payloads needs the same codec).
ERROR and RETRY are the JSON objects stored in the ``error`` and ``retry`` columns (or null). Readers
accept any ``format_version`` up to theirs and ignore fields they do not know.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from durable_core.errors import InputValidationError
from durable_core.storage.records import error_from_json, error_to_json, retry_from_json, retry_to_json
from durable_core.types import (
    NO_PAYLOAD,
    HistoryEntry,
    InstanceRecord,
    InstanceStatus,
    JsonValue,
    Payload,
    PayloadEncoding,
    StepKind,
    StepOutcome,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "export_history", "import_history"]

FORMAT: Final = "edda-history"
FORMAT_VERSION: Final = 1


def _payload_json(payload: Payload) -> dict[str, JsonValue]:
    if payload.encoding is PayloadEncoding.NONE:
        return {"encoding": PayloadEncoding.NONE.value}
    if payload.encoding is PayloadEncoding.JSON:
        return {"encoding": PayloadEncoding.JSON.value, "json": payload.json_value}
    return {"encoding": payload.encoding.value, "base64": base64.b64encode(payload.blob or b"").decode()}


def _payload_from(data: Any) -> Payload:
    if data is None:
        return NO_PAYLOAD
    encoding = PayloadEncoding(data["encoding"])
    if encoding is PayloadEncoding.NONE:
        return NO_PAYLOAD
    if encoding is PayloadEncoding.JSON:
        return Payload(encoding, data.get("json"))
    return Payload(encoding, blob=base64.b64decode(data["base64"]))


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_from(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def export_history(record: InstanceRecord, history: list[HistoryEntry]) -> dict[str, JsonValue]:
    """The exported JSON object of ``record`` and its ``history``."""
    instance: dict[str, JsonValue] = {
        "instance_id": record.instance_id,
        "workflow_name": record.workflow_name,
        "status": record.status.value,
        "input": _payload_json(record.input),
        "input_hash": record.input_hash,
        "created_at": _time(record.created_at),
        "updated_at": _time(record.updated_at),
        "finished_at": _time(record.finished_at),
        "output": _payload_json(record.output),
        "error": error_to_json(record.error),
        "blocked_reason": record.blocked_reason,
        "service_name": record.service_name,
        "parent_instance_id": record.parent_instance_id,
        "app_version": record.app_version,
        "last_run_version": record.last_run_version,
        "replay_frontier": record.replay_frontier,
    }
    entries: list[JsonValue] = [
        {
            "position": e.position,
            "kind": e.kind.value,
            "name": e.name,
            "args_hash": e.args_hash,
            "outcome": e.outcome.value,
            "result": _payload_json(e.result),
            "error": error_to_json(e.error),
            "retry": retry_to_json(e.retry),
            "recorded_at": _time(e.recorded_at),
        }
        for e in history
    ]
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "instance": instance, "history": entries}


def import_history(data: Any) -> tuple[InstanceRecord, list[HistoryEntry]]:
    """The instance and history of an exported object.

    Raises:
        InputValidationError: not an ``edda-history`` export, a newer format, or a malformed field.
    """
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise InputValidationError(f"not an exported history: expected an object with format={FORMAT!r}")
    version = data.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise InputValidationError(
            f"exported history format_version {version!r} is not supported (this code reads 1..{FORMAT_VERSION})"
        )
    try:
        return _record_from(data["instance"]), [_entry_from(data["instance"], e) for e in data["history"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputValidationError(f"malformed exported history: {type(exc).__name__}: {exc}") from None


def _record_from(inst: Mapping[str, Any]) -> InstanceRecord:
    created = datetime.fromisoformat(str(inst["created_at"]))
    return InstanceRecord(
        instance_id=str(inst["instance_id"]),
        workflow_name=str(inst["workflow_name"]),
        status=InstanceStatus(inst["status"]),
        input=_payload_from(inst.get("input")),
        input_hash=str(inst.get("input_hash", "")),
        created_at=created,
        updated_at=_time_from(inst.get("updated_at")) or created,
        finished_at=_time_from(inst.get("finished_at")),
        output=_payload_from(inst.get("output")),
        error=error_from_json(inst.get("error")),
        blocked_reason=inst.get("blocked_reason"),
        service_name=str(inst.get("service_name") or ""),
        parent_instance_id=inst.get("parent_instance_id"),
        app_version=inst.get("app_version"),
        last_run_version=inst.get("last_run_version"),
        replay_frontier=inst.get("replay_frontier"),
    )


def _entry_from(inst: Mapping[str, Any], e: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        instance_id=str(inst["instance_id"]),
        position=int(e["position"]),
        kind=StepKind(e["kind"]),
        name=str(e["name"]),
        args_hash=str(e.get("args_hash", "")),
        outcome=StepOutcome(e.get("outcome", "ok")),
        result=_payload_from(e.get("result")),
        error=error_from_json(e.get("error")),
        retry=retry_from_json(e.get("retry")),
        recorded_at=_time_from(e.get("recorded_at")),
    )
