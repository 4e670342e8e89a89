"""A run's lifecycle events and received messages, derived from what the durable store holds.

Nothing here is kept in memory: the occurrences of a run are a pure function of its stored instance
row and history, so a cursor handed out before a server restart (or by another replica) stays valid.
Each occurrence has an *order key*: 0 for ``started``, ``position + 1`` for what happened at a history
position, and :data:`END_KEY` for the end of the run. A cursor is the order key of the last occurrence
delivered; the next poll returns the occurrences with a larger key. :data:`START_CURSOR` names the
position before a run's first occurrence (a null cursor means "from now on", as the design has it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from durable_core import EddaApp, HistoryEntry, InstanceRecord, InstanceStatus, StepKind

END_KEY: Final = 1 << 62
CURSOR_PREFIX: Final = "edda-run-events-v1:"
START_CURSOR: Final = f"{CURSOR_PREFIX}start"


class RunEventType(enum.StrEnum):
    """The event types a server offers through ``events/list``."""

    LIFECYCLE = "run.lifecycle"
    MESSAGES = "run.messages"


class LifecycleKind(enum.StrEnum):
    """What happened to a run (the ``event`` field of a ``run.lifecycle`` occurrence)."""

    STARTED = "started"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


_END_KINDS: Final = {
    InstanceStatus.COMPLETED: LifecycleKind.COMPLETED,
    InstanceStatus.FAILED: LifecycleKind.FAILED,
    InstanceStatus.CANCELLED: LifecycleKind.CANCELLED,
}


class CursorError(ValueError):
    """A cursor that this server did not hand out."""


@dataclass(frozen=True, slots=True)
class RunOccurrence:
    """One event of one run: ``event_id`` is stable, ``key`` orders it within the run."""

    key: int
    event_id: str
    name: RunEventType
    timestamp: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def cursor(self) -> str:
        """The cursor that resumes after this occurrence."""
        return encode_cursor(self.key)


def encode_cursor(key: int) -> str:
    """The opaque cursor string of an order key."""
    return f"{CURSOR_PREFIX}{key}"


def decode_cursor(cursor: str) -> int:
    """The order key a cursor names (-1, before the first occurrence, for :data:`START_CURSOR`).

    Raises:
        CursorError: the text is not a cursor of this server.
    """
    if cursor == START_CURSOR:
        return -1
    digits = cursor.removeprefix(CURSOR_PREFIX)
    if digits == cursor or not digits.isdigit() or int(digits) > END_KEY:
        raise CursorError(f"cursor {cursor[:80]!r} was not handed out by this server")
    return int(digits)


async def read_occurrences(app: EddaApp, record: InstanceRecord, name: RunEventType) -> list[RunOccurrence]:
    """Every occurrence of event type ``name`` for ``record``'s run, in order."""
    history = await app.get_history(record.instance_id)
    if name is RunEventType.MESSAGES:
        return _messages(record, history)
    return await _lifecycle(app, record, history)


async def _lifecycle(
    app: EddaApp, record: InstanceRecord, history: list[HistoryEntry]
) -> list[RunOccurrence]:
    base = {"instance_id": record.instance_id, "workflow": record.workflow_name}
    found = [_lifecycle_event(record, 0, LifecycleKind.STARTED, record.created_at, base)]
    previous_time = record.created_at
    for entry in history:
        if entry.kind is StepKind.WAIT:
            # a recorded wait ended here, so the run was waiting at this position before it
            found.append(
                _lifecycle_event(
                    record,
                    entry.position + 1,
                    LifecycleKind.WAITING,
                    previous_time,
                    {**base, "waits_for": [entry.name]},
                )
            )
        previous_time = entry.recorded_at or previous_time
    if record.status is InstanceStatus.WAITING:
        info = await app.get_wait(record.instance_id)
        waits_for = [*info.event_types, *info.channels] if info is not None else []
        if waits_for:  # a pure timer is not a wait for input or a message
            position = history[-1].position + 1 if history else 0
            extra = {"waits_for": waits_for, "input_schemas": dict(info.input_schemas) if info else {}}
            found.append(
                _lifecycle_event(
                    record, position + 1, LifecycleKind.WAITING, record.updated_at, {**base, **extra}
                )
            )
    end = _END_KINDS.get(record.status)
    if end is not None:
        extra = (
            {}
            if record.error is None
            else {"error": {"type": record.error.type_name, "message": record.error.message}}
        )
        found.append(
            _lifecycle_event(record, END_KEY, end, record.finished_at or record.updated_at, {**base, **extra})
        )
    return found


def _lifecycle_event(
    record: InstanceRecord, key: int, kind: LifecycleKind, moment: datetime, data: dict[str, Any]
) -> RunOccurrence:
    suffix = "end" if key == END_KEY else str(key)
    return RunOccurrence(
        key=key,
        event_id=f"{record.instance_id}:{kind.value}:{suffix}",
        name=RunEventType.LIFECYCLE,
        timestamp=moment,
        data={**data, "event": kind.value},
    )


def _messages(record: InstanceRecord, history: list[HistoryEntry]) -> list[RunOccurrence]:
    found: list[RunOccurrence] = []
    for entry in history:
        if entry.kind is not StepKind.WAIT or entry.result.blob is not None:
            continue  # bytes payloads are not shown (the JSON view of a message is what clients read)
        value = entry.result.json_value
        if not isinstance(value, dict) or "metadata" not in value:
            continue  # a wait that timed out received nothing
        found.append(
            RunOccurrence(
                key=entry.position + 1,
                event_id=f"{record.instance_id}:message:{entry.position}",
                name=RunEventType.MESSAGES,
                timestamp=entry.recorded_at or record.updated_at,
                data={
                    "instance_id": record.instance_id,
                    "workflow": record.workflow_name,
                    "wait": entry.name,
                    "data": value.get("data"),
                    "metadata": value.get("metadata"),
                },
            )
        )
    return found
