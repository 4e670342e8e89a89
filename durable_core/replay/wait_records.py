"""How the end of a wait is stored at its history position, and read back on replay.

A wait that took a message records which alternative delivered, the message's attributes and its data.
JSON data is stored as one JSON object. Bytes data stays bytes (no base64): the record is then a binary
envelope - a magic prefix, the JSON header, a newline, and the raw data.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, cast

from durable_core.authoring.runtime import TIMED_OUT, WaitResult, WaitSpec
from durable_core.serialization import Serializer
from durable_core.types import HistoryEntry, JsonValue, Payload, StepKind, StepOutcome, StoredMessage

__all__ = ["decode_wait", "wait_entry"]

_MAGIC: Final = b"EDDA-WAIT-1\n"


def wait_entry(
    serializer: Serializer,
    instance_id: str,
    position: int,
    spec: WaitSpec,
    message: StoredMessage | None,
    recorded_at: datetime,
) -> HistoryEntry:
    """The history entry that records how the wait at ``position`` ended (``message`` None: timed out)."""
    if message is None:
        payload = serializer.encode({"index": TIMED_OUT})
    else:
        index = spec.keys.index(message.key)
        data = serializer.decode(message.data)
        header: dict[str, JsonValue] = {"index": index, "metadata": message.metadata}
        if isinstance(data, bytes):
            raw = json.dumps(header, separators=(",", ":")).encode()
            payload = serializer.encode(_MAGIC + raw + b"\n" + data)
        else:
            payload = serializer.encode({**header, "data": data})
    return HistoryEntry(
        instance_id=instance_id,
        position=position,
        kind=StepKind.WAIT,
        name=spec.name,
        args_hash="",
        outcome=StepOutcome.OK,
        result=payload,
        recorded_at=recorded_at,
    )


def decode_wait(serializer: Serializer, payload: Payload) -> WaitResult:
    """The :class:`WaitResult` a wait entry recorded."""
    value: Any = serializer.decode(payload)
    if isinstance(value, bytes):
        if not value.startswith(_MAGIC):
            raise ValueError("corrupt wait record: binary payload without the wait envelope")
        header_raw, _, data = value[len(_MAGIC) :].partition(b"\n")
        header = json.loads(header_raw)
        return WaitResult(index=int(header["index"]), data=data, metadata=dict(header.get("metadata") or {}))
    if not isinstance(value, dict) or "index" not in value:
        raise ValueError(f"corrupt wait record: {value!r}")
    record = cast(dict[str, Any], value)
    return WaitResult(
        index=int(record["index"]), data=record.get("data"), metadata=dict(record.get("metadata") or {})
    )
