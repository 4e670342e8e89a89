"""``send_event_transactional``: publish a CloudEvent exactly when the activity's transaction commits.

The event is written as a row of the engine's outbox table through the activity's ``ctx.session``, so it
commits together with the activity's history entry (and the activity's own ``ctx.session`` writes). If the
attempt fails, the row is rolled back with it. A relayer (``EddaApp(outbox_target_url=...)``) later
delivers committed rows over HTTP, retrying until the target accepts them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from durable_core.authoring.context import WorkflowContext
from durable_core.errors import ApiMisuseError
from durable_core.types import JsonScalar, JsonValue, OutboxEvent
from durable_core.validation import MAX_EVENT_TYPE_LENGTH, check_identifier, check_storable, check_text

__all__ = ["send_event_transactional"]

#: CloudEvents context attributes that an extension may not redefine.
RESERVED_ATTRIBUTES: Final = frozenset(
    {
        "id",
        "source",
        "specversion",
        "type",
        "datacontenttype",
        "dataschema",
        "subject",
        "time",
        "data",
        "data_base64",
    }
)
_EXTENSION_NAME: Final = re.compile(r"^[a-z0-9]{1,20}$")
_MAX_TEXT: Final = 1024


def _text(name: str, value: object, *, limit: int = _MAX_TEXT) -> str:
    return check_text(name, value, limit=limit)


def _extensions(extensions: Mapping[str, JsonScalar] | None) -> tuple[tuple[str, JsonScalar], ...]:
    if not extensions:
        return ()
    checked: list[tuple[str, JsonScalar]] = []
    for name, value in extensions.items():
        if not _EXTENSION_NAME.match(str(name)):
            raise ValueError(
                f"CloudEvents extension names are 1-20 lowercase letters or digits, got {name!r}"
            )
        if name in RESERVED_ATTRIBUTES:
            raise ValueError(f"{name!r} is a CloudEvents context attribute, not an extension")
        if value is None or not isinstance(value, (str, int, bool)):
            raise ValueError(f"extension {name!r} must be a string, integer or boolean, got {value!r}")
        check_storable(f"extension {name!r}", value)
        checked.append((name, value))
    return tuple(sorted(checked))


def _data(event_data: Any) -> tuple[JsonValue, bytes | None, str]:
    if isinstance(event_data, (bytes, bytearray, memoryview)):
        return None, bytes(event_data), "application/octet-stream"
    try:
        json.dumps(event_data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"event_data must be JSON (a dict, list, ...) or bytes: {exc}") from None
    return event_data, None, "application/json"


async def send_event_transactional(
    ctx: WorkflowContext,
    event_type: str,
    event_source: str,
    event_data: Mapping[str, Any] | list[Any] | bytes | JsonScalar,
    *,
    subject: str | None = None,
    extensions: Mapping[str, JsonScalar] | None = None,
    data_content_type: str | None = None,
) -> str:
    """Write a CloudEvent to the outbox in the activity's transaction; return its CloudEvent ``id``.

    The row commits atomically with the activity's history entry (and any other ``ctx.session`` writes):
    a failed or retried attempt leaves no row behind. The ``id`` is generated now and stored with the row,
    so every delivery (including retries and redeliveries after a crash) carries the same ``id`` and
    receivers can de-duplicate on it.

    Args:
        ctx: the context of the running activity or compensation.
        event_type: CloudEvents ``type``, e.g. ``"order.created"``.
        event_source: CloudEvents ``source``, e.g. ``"order-service"``.
        event_data: JSON data (dict, list, scalar; ``None`` for no data) or ``bytes`` (kept as bytes).
        subject: CloudEvents ``subject``.
        extensions: extension attributes (names of 1-20 lowercase letters/digits; str, int or bool).
        data_content_type: CloudEvents ``datacontenttype`` (default ``application/json`` for JSON data,
            ``application/octet-stream`` for bytes).

    Raises:
        ApiMisuseError: called in a workflow body instead of an activity or compensation.
        ValueError / TypeError: an invalid attribute or data that is neither JSON nor bytes.
    """
    scope = ctx._scope
    if scope is None:
        raise ApiMisuseError(
            "send_event_transactional() must be called inside an activity or compensation (it writes "
            "through the activity's transaction); in a workflow body, call an activity that sends it"
        )
    data_json, data_blob, default_type = _data(event_data)
    no_data = data_json is None and data_blob is None
    event = OutboxEvent(
        event_id=str(uuid.uuid4()),
        event_type=check_identifier("event_type", event_type, limit=MAX_EVENT_TYPE_LENGTH),
        event_source=_text("event_source", event_source),
        created_at=ctx._runtime.clock_now(),
        instance_id=ctx.instance_id,
        activity_id=scope.activity_id,
        subject=None if subject is None else _text("subject", subject),
        data_content_type=(
            _text("data_content_type", data_content_type, limit=255)
            if data_content_type is not None
            else (None if no_data else default_type)
        ),
        extensions=_extensions(extensions),
        data_json=data_json,
        data_blob=data_blob,
    )
    await scope.add_outbox_event(event)
    return event.event_id
