"""Sending events and channel messages from outside workflows (``app.send_event``, ``app.publish``, ...)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from durable_core.authoring.channels import channel_metadata
from durable_core.authoring.events import build_event_metadata, event_data
from durable_core.engine.services import EngineServices
from durable_core.engine.typed_waits import check_event_data
from durable_core.replay.wait_records import wait_entry
from durable_core.serialization import to_json_value
from durable_core.types import (
    DeliveryResult,
    Handoff,
    OutgoingEvent,
    OutgoingMessage,
    StoredMessage,
    WaitKey,
    WaitKind,
)
from durable_core.validation import MAX_CHANNEL_LENGTH, check_identifier, check_storable

__all__ = ["Sender"]


class Sender:
    """Stores events and messages (one transaction each) and wakes local receivers at once."""

    def __init__(self, services: EngineServices) -> None:
        self._s = services

    async def send_event(self, event: OutgoingEvent) -> str:
        """See :meth:`EddaApp.send_event`."""
        eid = event.event_id or str(uuid.uuid4())
        storable = dataclasses.replace(event, data=event_data(event.data))
        meta = build_event_metadata(storable, event_id=eid, time=event.time or self._s.clock.now())
        if event.instance_id is not None:
            check_identifier("instance_id", event.instance_id)
            await self._check_typed_wait(event.instance_id, event.event_type, storable.data)
        await self._deliver(WaitKey(WaitKind.EVENT, event.event_type), storable.data, meta, event.instance_id)
        return eid

    async def _check_typed_wait(self, instance_id: str, event_type: str, value: Any) -> None:
        """Refuse data that does not match the model the addressed instance waits for this type with."""
        if isinstance(value, bytes):
            data: Any = value
        else:
            try:
                data = to_json_value(value)
            except TypeError:
                return  # refused with its own message when it is encoded
        parked = self._s.local.parked_wait(instance_id)
        if parked is not None:  # parked by this process: its wait is known without a read
            schemas = dict(parked[2].schemas)
        else:
            wait = await self._s.storage.messaging().get_wait(instance_id)
            schemas = dict(wait.input_schemas) if wait is not None else {}
        schema = schemas.get(event_type)
        if schema is not None:
            if not isinstance(data, bytes):
                check_storable("data", data)  # first: also bounds the depth the schema check recurses into
            check_event_data(instance_id, event_type, schema, data)

    async def publish(self, channel: str, data: Any = None, *, message_id: str | None = None) -> str:
        """See :meth:`EddaApp.publish`."""
        return await self._message(channel, data, None, message_id)

    async def send_to(
        self, instance_id: str, channel: str, data: Any = None, *, message_id: str | None = None
    ) -> str:
        """See :meth:`EddaApp.send_to`."""
        check_identifier("instance_id", instance_id)
        return await self._message(channel, data, instance_id, message_id)

    async def _message(self, channel: str, data: Any, target: str | None, message_id: str | None) -> str:
        check_identifier("channel", channel, limit=MAX_CHANNEL_LENGTH)
        mid = message_id or str(uuid.uuid4())
        meta = channel_metadata(channel, mid, None, self._s.clock.now())
        await self._deliver(WaitKey(WaitKind.MESSAGE, channel), event_data(data), meta, target)
        return mid

    async def _deliver(
        self, key: WaitKey, value: Any, meta: dict[str, Any], target: str | None
    ) -> DeliveryResult:
        try:
            payload = self._s.serializer.encode(value, "data")
        except TypeError as exc:
            raise TypeError(
                f"data must be JSON (dict, list, ...), bytes or a Pydantic model: {exc}"
            ) from None
        message = OutgoingMessage(key=key, data=payload, metadata=meta, target_instance_id=target)
        now = self._s.clock.now()
        claim = self._s.local.claim_request() if target is not None else None
        handoff = self._handoff(message, now) if claim is not None else None
        result = await self._s.storage.messaging().deliver(message, now, claim_for=claim, handoff=handoff)
        self._s.local.wake(result.woken)
        if result.handed_off and handoff is not None and target is not None:
            self._s.local.note_handoff(target, handoff.entry)
        for claimed in result.claimed:
            self._s.local.adopt(claimed)
        return result

    def _handoff(self, message: OutgoingMessage, now: datetime) -> Handoff | None:
        """The wait's end to record in the send itself, when this process parked the target on this key."""
        target = message.target_instance_id
        parked = self._s.local.parked_wait(target) if target is not None else None
        if parked is None or target is None:
            return None
        epoch, position, spec = parked
        if message.key not in spec.keys or (spec.due is not None and now >= spec.due):
            return None
        taken = StoredMessage(0, message.key, message.data, message.metadata, now)
        entry = wait_entry(self._s.serializer, target, position, spec, taken, now)
        return Handoff(epoch=epoch, entry=entry, retain=spec.retain)
