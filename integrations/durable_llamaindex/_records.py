"""What one checkpoint records, as JSON, and how LlamaIndex events are stored and rebuilt.

Events are encoded with LlamaIndex's own ``JsonSerializer`` (fields plus the event class's qualified
name), so a replay rebuilds instances of your event classes. The snapshot is ``Context.to_dict()``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from workflows.context.serializers import JsonSerializer
from workflows.events import Event

from durable_llamaindex.errors import RecordedRunError


class CheckpointKind(StrEnum):
    """Why a checkpoint was recorded."""

    STEP = "step"  # a step finished; the snapshot resumes right after it
    DONE = "done"  # the run finished; ``result`` holds the StopEvent


class Checkpoint(BaseModel):
    """One recorded point of a durable LlamaIndex run.

    Attributes:
        kind: a finished step, or the end of the run.
        step: name of the step that finished (None for the end).
        input_event: the event the step received (encoded).
        output_events: the events the step produced: sent with ``ctx.send_event``, then returned.
        snapshot: ``Context.to_dict()`` right after the step's result was processed (the first STEP
            checkpoint of a run; older recordings have it at every step).
        snapshot_patch: the later STEP checkpoints' difference to the previous snapshot
            (:mod:`durable_llamaindex._delta`), so a checkpoint grows with what the step changed.
        published: events the run wrote to its stream since the previous checkpoint (encoded).
        input_requests: how many of those are ``InputRequiredEvent``s, each answered by one response.
        responses_applied: human responses the run had consumed when the snapshot was taken.
        result: the encoded ``StopEvent`` (DONE only).
        stop_result: ``StopEvent.result`` encoded with its class (a pydantic model such as an agent's
            ``AgentOutput`` comes back as that class, not a dict); None in older recordings.
    """

    model_config = ConfigDict(frozen=True)

    kind: CheckpointKind
    step: str | None = None
    input_event: Any = None
    output_events: list[Any] = []
    snapshot: dict[str, Any] | None = None
    snapshot_patch: dict[str, Any] | None = None
    published: list[Any] = []
    input_requests: int = 0
    responses_applied: int = 0
    result: Any = None
    stop_result: Any = None


def _serializer() -> JsonSerializer:
    return JsonSerializer()


def encode_event(event: Event) -> Any:
    """JSON form of an event, with its class's qualified name."""
    return json.loads(_serializer().serialize(event))


def decode_event(data: Any) -> Event:
    """Rebuild an event (an instance of the recorded class) from :func:`encode_event` output.

    Raises:
        RecordedRunError: the class cannot be imported or the fields no longer fit it.
    """
    try:
        value = _serializer().deserialize(json.dumps(data))
    except Exception as exc:
        raise RecordedRunError(f"cannot rebuild a recorded LlamaIndex event: {exc}") from exc
    if not isinstance(value, Event):
        raise RecordedRunError(f"recorded value is a {type(value).__name__}, not a LlamaIndex event")
    return value


def encode_value(value: Any) -> Any:
    """JSON form of any value LlamaIndex can serialize; pydantic models keep their qualified class name."""
    return json.loads(_serializer().serialize(value))


def decode_value(data: Any) -> Any:
    """Rebuild what :func:`encode_value` encoded.

    Raises:
        RecordedRunError: a recorded class cannot be imported or its fields no longer fit it.
    """
    try:
        return _serializer().deserialize(json.dumps(data))
    except Exception as exc:
        raise RecordedRunError(f"cannot rebuild a recorded LlamaIndex result: {exc}") from exc


def to_json_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """``Context.to_dict()`` output as plain JSON (tuples become lists)."""
    loaded: dict[str, Any] = json.loads(json.dumps(snapshot))
    return loaded
