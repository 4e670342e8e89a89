"""The transactional outbox's rows and outgoing CloudEvents, as frozen values that cross layers.

Split from :mod:`durable_core.types` (which re-exports every name here) to keep that module small.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_core.types import JsonScalar, JsonValue

__all__ = ["OutboxEvent", "OutboxOutcome", "OutboxRecord", "OutboxStatus", "OutgoingEvent"]


class OutboxStatus(enum.StrEnum):
    """Delivery state of an outbox row (rows are never deleted by delivery)."""

    PENDING = "pending"  # waiting for (another) delivery attempt
    SENT = "sent"  # the target answered 2xx
    REJECTED = "rejected"  # the target answered 4xx (not 408/429): kept for inspection, not retried
    FAILED = "failed"  # every attempt failed (network error, 5xx, 408, 429): kept, not retried


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A CloudEvent to be written to the outbox inside an activity's transaction.

    ``data`` is JSON (``data_json``) or bytes (``data_blob``), never both.
    """

    event_id: str
    event_type: str
    event_source: str
    created_at: datetime
    instance_id: str | None = None
    activity_id: str | None = None
    subject: str | None = None
    data_content_type: str | None = None
    extensions: tuple[tuple[str, JsonScalar], ...] = ()
    data_json: JsonValue = None
    data_blob: bytes | None = None


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """A stored outbox row with its delivery state."""

    event: OutboxEvent
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    sent_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxOutcome:
    """What happened to one claimed outbox row.

    Attributes:
        event_id: the row.
        status: SENT, REJECTED, FAILED, or PENDING (retry at ``retry_at``).
        status_code: the HTTP status, when there was a response.
        error: why it was not delivered (response text or exception), for REJECTED/FAILED/PENDING.
        retry_at: when to try again (PENDING only).
    """

    event_id: str
    status: OutboxStatus
    status_code: int | None = None
    error: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """A CloudEvent to send, as one value (``send_event``'s keywords, passed between the layers).

    Attributes:
        event_type: CloudEvents ``type``.
        source: CloudEvents ``source``.
        data: JSON data, bytes, or a Pydantic model (sent as its JSON).
        instance_id: deliver into this instance's mailbox instead of to every waiter of the type.
        subject: CloudEvents ``subject``.
        event_id: CloudEvents ``id`` (generated when None).
        extensions: CloudEvents extension attributes.
        data_content_type: CloudEvents ``datacontenttype``.
        time: CloudEvents ``time`` (now on the sender's clock when None).
    """

    event_type: str
    source: str
    data: Any = None
    instance_id: str | None = None
    subject: str | None = None
    event_id: str | None = None
    extensions: Mapping[str, JsonScalar] | None = None
    data_content_type: str | None = None
    time: datetime | None = None
