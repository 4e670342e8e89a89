"""Events: ``wait_event(ctx, type)`` suspends durably until a matching event arrives; ``send_event`` sends.

Delivery semantics (see docs/events.md):

* An event **addressed to an instance** (``instance_id=...``) goes into that instance's mailbox and stays
  there until a ``wait_event`` for its type takes it - also when the instance is not waiting yet, or is
  waiting for something else. Events of one type are taken oldest first, each exactly once.
* An event **by type** (no ``instance_id``) reaches every instance that is waiting for that type when the
  event is committed (each gets its own copy). An instance that starts waiting later does not see it.
* A ``wait_event`` with ``timeout_seconds`` raises :class:`~durable_core.errors.EventTimeoutError` when the
  time passes first; an addressed event arriving after that stays in the mailbox for a later wait.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, cast, overload

from pydantic import BaseModel, ValidationError

from durable_core.authoring.context import CURRENT_CONTEXT, WorkflowContext
from durable_core.authoring.outbox import _data, _extensions, _text
from durable_core.authoring.runtime import TIMED_OUT, Outgoing, WaitResult, WaitSpec
from durable_core.errors import EddaError, EventTimeoutError
from durable_core.types import JsonScalar, JsonValue, WaitKey, WaitKind
from durable_core.validation import MAX_EVENT_TYPE_LENGTH, MAX_ID_LENGTH, check_identifier, check_text

logger = logging.getLogger("durable_core.events")

__all__ = [
    "EventMetadata",
    "EventSender",
    "ReceivedEvent",
    "build_event_metadata",
    "send_event",
    "wait_event",
]

M = TypeVar("M", bound=BaseModel)
D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class EventMetadata:
    """The CloudEvents context attributes of a received event."""

    id: str
    source: str
    type: str
    subject: str | None = None
    time: datetime | None = None
    data_content_type: str | None = None
    instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedEvent(Generic[D]):
    """What ``wait_event`` returns.

    Attributes:
        data: the event data - a dict (or other JSON value), bytes, or an instance of ``model=``.
        metadata: CloudEvents attributes (``metadata.type``, ``metadata.source``, ``metadata.id``, ...).
        extensions: CloudEvents extension attributes.
    """

    data: D
    metadata: EventMetadata
    extensions: dict[str, JsonScalar] = field(default_factory=dict)


class EventSender(Protocol):
    """Anything that can send an event outside a workflow (an ``EddaApp``)."""

    async def send_event(
        self,
        event_type: str,
        source: str,
        data: Any = None,
        *,
        instance_id: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
        extensions: Mapping[str, JsonScalar] | None = None,
        data_content_type: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """Send an event; return its id."""
        ...


def build_event_metadata(
    *,
    event_id: str,
    event_type: str,
    source: str,
    time: datetime,
    subject: str | None,
    extensions: Mapping[str, JsonScalar] | None,
    data_content_type: str | None,
    data: Any,
    instance_id: str | None,
) -> dict[str, JsonValue]:
    """Validate CloudEvents attributes and return the JSON kept with the stored event.

    Raises:
        ValueError / TypeError: an invalid attribute, or data that is neither JSON nor bytes.
    """
    _, _, default_type = _data(data.model_dump(mode="json") if isinstance(data, BaseModel) else data)
    return {
        "id": check_text("event_id", event_id, limit=MAX_ID_LENGTH),
        "source": check_text("source", source),
        "type": check_identifier("event_type", event_type, limit=MAX_EVENT_TYPE_LENGTH),
        "subject": None if subject is None else _text("subject", subject),
        "time": time.isoformat(),
        "datacontenttype": (
            check_text("data_content_type", data_content_type, limit=MAX_ID_LENGTH)
            if data_content_type
            else (None if data is None else default_type)
        ),
        "instance_id": None if instance_id is None else check_identifier("instance_id", instance_id),
        "extensions": dict(_extensions(extensions)),
    }


def event_data(data: Any) -> Any:
    """The storable form of event data: JSON value or bytes (a pydantic model becomes its JSON)."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    return data


def received_event(result: WaitResult, model: type[BaseModel] | None, event_type: str) -> ReceivedEvent[Any]:
    """Rebuild the :class:`ReceivedEvent` from a recorded wait (validating ``model`` if given)."""
    meta = result.metadata
    time_raw = meta.get("time")
    metadata = EventMetadata(
        id=str(meta.get("id", "")),
        source=str(meta.get("source", "")),
        type=str(meta.get("type", event_type)),
        subject=cast("str | None", meta.get("subject")),
        time=datetime.fromisoformat(time_raw) if isinstance(time_raw, str) else None,
        data_content_type=cast("str | None", meta.get("datacontenttype")),
        instance_id=cast("str | None", meta.get("instance_id")),
    )
    extensions_raw = meta.get("extensions")
    extensions = cast(dict[str, JsonScalar], dict(extensions_raw)) if isinstance(extensions_raw, dict) else {}
    data = result.data
    if model is not None:
        try:
            data = model.model_validate_json(data) if isinstance(data, bytes) else model.model_validate(data)
        except ValidationError as exc:
            raise MalformedEventError(
                f"event {metadata.type!r} ({metadata.id}) does not match {model.__name__}: {exc}"
            ) from exc
    return ReceivedEvent(data=data, metadata=metadata, extensions=extensions)


class MalformedEventError(EddaError):
    """An event's data does not validate against the ``model=`` of the wait that took it."""


def workflow_body_context(ctx: object, what: str) -> WorkflowContext:
    """Check that ``ctx`` is a workflow context used in a workflow body."""
    if not isinstance(ctx, WorkflowContext):
        raise TypeError(f"{what}() needs the WorkflowContext as first argument, got {type(ctx).__name__}")
    if ctx.in_activity:
        raise EddaError(f"{what}() is for workflow bodies, not activities")
    return ctx


def due_after(ctx: WorkflowContext, timeout_seconds: float | None, what: str) -> datetime | None:
    """The durable due time of a timeout (``ctx.now()`` + seconds), or None."""
    if timeout_seconds is None:
        return None
    raw: object = timeout_seconds
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise ValueError(f"{what}() timeout_seconds must be a number >= 0, got {timeout_seconds!r}")
    return ctx.now() + timedelta(seconds=timeout_seconds)


@overload
async def wait_event(
    ctx: WorkflowContext, event_type: str, timeout_seconds: float | None = None, model: None = None
) -> ReceivedEvent[Any]: ...
@overload
async def wait_event(
    ctx: WorkflowContext, event_type: str, timeout_seconds: float | None = None, *, model: type[M]
) -> ReceivedEvent[M]: ...
async def wait_event(
    ctx: WorkflowContext,
    event_type: str,
    timeout_seconds: float | None = None,
    model: type[BaseModel] | None = None,
) -> ReceivedEvent[Any]:
    """Wait durably for an event of ``event_type`` (the instance holds no worker while it waits).

    Args:
        ctx: the workflow's context.
        event_type: the CloudEvents ``type`` to wait for.
        timeout_seconds: give up after this long (durable, measured from now), raising EventTimeoutError.
        model: a Pydantic model the data is validated into (its JSON schema is shown to whoever answers).

    Returns:
        The event: ``data`` (dict / bytes / model instance), ``metadata``, ``extensions``.

    Raises:
        EventTimeoutError: the timeout passed before a matching event arrived.
        EddaError: called inside an activity.

    An event whose data does not validate against ``model`` does not end the wait: it stays in the
    instance's history (as the step of the wait that took it, with its data) and the workflow keeps
    waiting, until the same deadline. Events sent to an instance that is waiting with a ``model`` are
    validated when they are sent (``send_event`` raises ``ValueError``, the HTTP ingress answers 400).
    """
    ctx = workflow_body_context(ctx, "wait_event")
    check_identifier("event_type", event_type, limit=MAX_EVENT_TYPE_LENGTH)
    due = due_after(ctx, timeout_seconds, "wait_event")
    schemas: tuple[tuple[str, JsonValue], ...] = ()
    if model is not None:
        schemas = ((event_type, cast(JsonValue, model.model_json_schema())),)
    spec = WaitSpec(
        name=f"wait_event:{event_type}",
        keys=(WaitKey(WaitKind.EVENT, event_type),),
        due=due,
        schemas=schemas,
    )
    runtime = ctx._runtime
    while True:
        result = await runtime.wait_for(runtime.next_position(), spec)
        if result.index == TIMED_OUT:
            raise EventTimeoutError(f"no {event_type!r} event arrived within {timeout_seconds} s")
        try:
            return received_event(result, model, event_type)
        except MalformedEventError as exc:
            # A malformed answer never ends the run: it stays recorded in the history (this wait's
            # step) and the workflow waits again, for the same deadline. Replay repeats this decision.
            if not ctx.is_replaying:  # said once, when it happened
                logger.warning("instance %s: %s; still waiting", ctx.instance_id, exc)


async def send_event(
    event_type: str,
    source: str,
    data: Any = None,
    *,
    instance_id: str | None = None,
    subject: str | None = None,
    event_id: str | None = None,
    extensions: Mapping[str, JsonScalar] | None = None,
    data_content_type: str | None = None,
    time: datetime | None = None,
    app: EventSender | None = None,
) -> str:
    """Send an event to waiting workflows (by type) or into one instance's mailbox (``instance_id``).

    From a workflow body it is journaled: sent exactly once, never again on replay (its id is derived
    from the instance and position). From an activity it is sent at once (at least once, like any
    activity side effect). Anywhere else, pass ``app=`` (or call ``app.send_event``).

    Args:
        event_type: CloudEvents ``type``.
        source: CloudEvents ``source``.
        data: JSON data, bytes, or a Pydantic model (sent as its JSON).
        instance_id: deliver to this instance's mailbox (kept until a wait for this type takes it).
        subject: CloudEvents ``subject``.
        event_id: CloudEvents ``id`` (generated when omitted).
        extensions: CloudEvents extension attributes.
        data_content_type: CloudEvents ``datacontenttype``.
        time: CloudEvents ``time`` (default: now).
        app: the app to send through, outside workflows and activities.

    Returns:
        The event id.

    Raises:
        EddaError: outside a workflow/activity without ``app``.
        InstanceNotFoundError: ``instance_id`` names no instance.
    """
    if app is not None:
        return await app.send_event(
            event_type,
            source,
            data,
            instance_id=instance_id,
            subject=subject,
            event_id=event_id,
            extensions=extensions,
            data_content_type=data_content_type,
            time=time,
        )
    ctx = CURRENT_CONTEXT.get()
    if ctx is None:
        raise EddaError("send_event() outside a workflow needs app=... (or call app.send_event(...))")
    runtime = ctx._runtime
    position = None if ctx.in_activity else runtime.next_position()
    eid = event_id or (f"{ctx.instance_id}:{position}" if position is not None else str(uuid.uuid4()))
    value = event_data(data)
    meta = build_event_metadata(
        event_id=eid,
        event_type=event_type,
        source=source,
        time=time or runtime.clock_now(),
        subject=subject,
        extensions=extensions,
        data_content_type=data_content_type,
        data=value,
        instance_id=instance_id,
    )
    message = Outgoing(WaitKey(WaitKind.EVENT, event_type), value, meta, instance_id)
    if position is None:
        await runtime.send_now(message)
    else:
        await runtime.send(position, f"send_event:{event_type}", message)
    return eid
