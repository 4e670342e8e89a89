"""Parse one CloudEvent from an HTTP request (binary or structured content mode) with the ``cloudevents`` SDK.

* **Binary mode**: the attributes are ``ce-*`` headers (values percent-decoded, as the HTTP binding
  requires), the body is the data and ``Content-Type`` its ``datacontenttype``.
* **Structured mode**: ``Content-Type: application/cloudevents+json`` and the body is one JSON document
  holding the attributes and ``data`` (or ``data_base64`` for bytes).
* **Batch mode** (``application/cloudevents-batch+json``) is refused.

Data becomes: the parsed JSON value for JSON media types (``application/json``, ``*/*+json``; with no
content type, JSON when the data parse as JSON), ``bytes`` otherwise (a structured ``data`` string of a non-JSON type is
UTF-8 encoded, so both modes give the same value), and ``None`` when there is none.

The extension attribute ``eddainstanceid`` addresses the event to one workflow instance; every other
extension is passed on as a string (integers in decimal, booleans as ``true``/``false``).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

from cloudevents.exceptions import GenericException
from cloudevents.http import from_http

from durable_core.ingress.errors import InvalidCloudEventError

__all__ = [
    "INSTANCE_ID_EXTENSION",
    "STRUCTURED_CONTENT_TYPE",
    "ContentMode",
    "IncomingEvent",
    "is_json_media_type",
    "parse_cloudevent",
]

INSTANCE_ID_EXTENSION: Final = "eddainstanceid"
STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
BATCH_CONTENT_TYPE: Final = "application/cloudevents-batch+json"
REQUIRED: Final = ("specversion", "id", "source", "type")
CONTEXT_ATTRIBUTES: Final = frozenset(
    {*REQUIRED, "subject", "time", "datacontenttype", "dataschema", "data", "data_base64"}
)
_EXTENSION_NAME: Final = re.compile(r"^[a-z0-9]{1,20}$")
#: longest accepted value per attribute (the database columns' sizes)
_LIMITS: Final = {"id": 255, "type": 255, "source": 1024, "subject": 1024, "datacontenttype": 255}
_ID_LIMIT: Final = 255
_EXTENSION_LIMIT: Final = 1024


class ContentMode(enum.StrEnum):
    """How the event was carried (``IncomingEvent.mode``)."""

    BINARY = "binary"
    STRUCTURED = "structured"


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A validated CloudEvent received over HTTP.

    Attributes:
        event_id: ``id``.
        event_type: ``type``.
        source: ``source``.
        data: the JSON value, ``bytes``, or None.
        subject: ``subject``.
        data_content_type: ``datacontenttype``.
        instance_id: the ``eddainstanceid`` extension (the instance the event is addressed to).
        time: ``time``, when given (RFC 3339; without an offset it is taken as UTC).
        extensions: the other extension attributes as ``(name, value)`` pairs, sorted.
        mode: binary or structured content mode.
    """

    event_id: str
    event_type: str
    source: str
    data: Any
    subject: str | None = None
    data_content_type: str | None = None
    instance_id: str | None = None
    extensions: tuple[tuple[str, str], ...] = ()
    mode: ContentMode = ContentMode.BINARY
    time: datetime | None = None


def media_type(content_type: str | None) -> str:
    """``"application/json"`` for ``"Application/JSON; charset=utf-8"``; ``""`` for none."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    """True for ``application/json``, ``text/json`` and any ``*/*+json`` type."""
    kind = media_type(content_type)
    return kind in ("application/json", "text/json") or kind.endswith("+json")


def parse_cloudevent(headers: Mapping[str, str], body: bytes) -> IncomingEvent:
    """Parse and validate the CloudEvent carried by ``headers`` (names lower-case) and ``body``.

    Raises:
        InvalidCloudEventError: not a valid CloudEvent; the message says what is wrong.
    """
    kind = media_type(headers.get("content-type"))
    if kind == BATCH_CONTENT_TYPE:
        raise InvalidCloudEventError(
            f"batch mode ({BATCH_CONTENT_TYPE}) is not supported: send one event per request"
        )
    if kind == STRUCTURED_CONTENT_TYPE:
        return _structured(headers, body)
    if kind.startswith("application/cloudevents"):
        raise InvalidCloudEventError(
            f"unsupported structured format {kind!r}: only {STRUCTURED_CONTENT_TYPE} is accepted"
        )
    if "ce-specversion" in headers:
        return _binary(headers, body)
    raise InvalidCloudEventError(
        f"not a CloudEvent: Content-Type {kind or '(none)'!r} without ce-specversion header; send "
        f"binary mode (ce-specversion, ce-id, ce-source, ce-type headers) or structured mode "
        f"(Content-Type: {STRUCTURED_CONTENT_TYPE})"
    )


_TOO_DEEP: Final = "the JSON is nested too deeply"


def _keep(value: Any) -> Any:
    """SDK data unmarshaller that leaves the data alone (decoded below, per content type)."""
    return value


def _sdk_attributes(headers: Mapping[str, str], body: bytes) -> tuple[dict[str, Any], Any]:
    try:
        event = from_http(dict(headers), body, data_unmarshaller=_keep)
    except RecursionError:
        raise InvalidCloudEventError(_TOO_DEEP) from None
    except (GenericException, ValueError, TypeError, AttributeError, KeyError) as exc:  # the SDK's refusals
        raise InvalidCloudEventError(f"invalid CloudEvent: {exc}") from None
    return dict(event.get_attributes()), event.get_data()


def _binary(headers: Mapping[str, str], body: bytes) -> IncomingEvent:
    missing = [f"ce-{name}" for name in REQUIRED if f"ce-{name}" not in headers]
    if missing:
        raise InvalidCloudEventError(f"binary-mode CloudEvent lacks required header(s): {', '.join(missing)}")
    decoded: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith("ce-"):
            try:
                decoded[name] = unquote(value, errors="strict")
            except UnicodeDecodeError:
                raise InvalidCloudEventError(f"header {name} is not percent-encoded UTF-8") from None
        elif name == "content-type":
            decoded[name] = value
    attributes, _ = _sdk_attributes(decoded, body)
    content_type = headers.get("content-type")
    data: Any = None
    if body and is_json_media_type(content_type):
        data = _json(body, "the body")
    elif body and content_type is None:  # no type given (e.g. the SDK's to_binary): JSON when it parses
        try:
            data = json.loads(body)
        except RecursionError:
            raise InvalidCloudEventError(_TOO_DEEP) from None
        except (UnicodeDecodeError, ValueError):
            data = body
    elif body:
        data = body
    return _event(attributes, data, ContentMode.BINARY)


def _structured(headers: Mapping[str, str], body: bytes) -> IncomingEvent:
    document = _json(body, "the structured-mode body")
    if not isinstance(document, dict):
        raise InvalidCloudEventError("a structured-mode CloudEvent must be a JSON object")
    missing = [name for name in REQUIRED if name not in document]
    if missing:
        raise InvalidCloudEventError(f"CloudEvent lacks required attribute(s): {', '.join(missing)}")
    for name in document:
        if name not in CONTEXT_ATTRIBUTES and not _EXTENSION_NAME.match(name):
            raise InvalidCloudEventError(
                f"invalid CloudEvents extension name {name!r}: 1-20 lowercase letters or digits"
            )
    if "data" in document and "data_base64" in document:
        raise InvalidCloudEventError("a CloudEvent has either data or data_base64, not both")
    encoded = document.get("data_base64")
    if encoded is not None:
        if not isinstance(encoded, str):
            raise InvalidCloudEventError("data_base64 must be a base64 string")
        try:
            base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise InvalidCloudEventError("data_base64 is not valid base64") from None
    attributes, raw = _sdk_attributes({"content-type": STRUCTURED_CONTENT_TYPE}, body)
    data: Any
    if "data_base64" in document:
        data = raw if isinstance(raw, bytes) else None
    else:
        data = document.get("data")
        content_type = document.get("datacontenttype")
        if isinstance(data, str) and content_type is not None and not is_json_media_type(str(content_type)):
            data = data.encode("utf-8")
    return _event(attributes, data, ContentMode.STRUCTURED)


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise InvalidCloudEventError(_TOO_DEEP) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidCloudEventError(f"{what} is not valid JSON: {exc}") from None


def _text(attributes: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = attributes.get(name)
    if value is None:
        if required:
            raise InvalidCloudEventError(f"CloudEvent attribute {name!r} is required")
        return None
    if not isinstance(value, str) or not value:
        raise InvalidCloudEventError(
            f"CloudEvent attribute {name!r} must be a non-empty string, got {value!r}"
        )
    limit = _LIMITS.get(name)
    if limit is not None and len(value) > limit:
        raise InvalidCloudEventError(f"CloudEvent attribute {name!r} is longer than {limit} characters")
    return value


def _extension_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (str, int)):
        text = str(value)
    else:
        raise InvalidCloudEventError(
            f"extension {name!r} must be a string, integer or boolean, got {type(value).__name__}"
        )
    if len(text) > _EXTENSION_LIMIT:
        raise InvalidCloudEventError(f"extension {name!r} is longer than {_EXTENSION_LIMIT} characters")
    return text


def _event(attributes: Mapping[str, Any], data: Any, mode: ContentMode) -> IncomingEvent:
    if attributes.get("specversion") != "1.0":
        raise InvalidCloudEventError(
            f"unsupported specversion {attributes.get('specversion')!r}: only '1.0' is accepted"
        )
    event_id, event_type, source = (
        _text(attributes, name, required=True) for name in ("id", "type", "source")
    )
    assert event_id is not None and event_type is not None and source is not None
    time_text = _text(attributes, "time", required=False)
    time: datetime | None = None
    if time_text is not None:
        try:
            time = datetime.fromisoformat(time_text)
            time = time.replace(tzinfo=UTC) if time.tzinfo is None else time
        except ValueError:
            raise InvalidCloudEventError(
                f"CloudEvent attribute 'time' is not an RFC 3339 timestamp: {time_text!r}"
            ) from None
    extensions: dict[str, str] = {}
    for name, value in attributes.items():
        if name in CONTEXT_ATTRIBUTES:
            continue
        if not _EXTENSION_NAME.match(name):
            raise InvalidCloudEventError(
                f"invalid CloudEvents extension name {name!r}: 1-20 lowercase letters or digits"
            )
        extensions[name] = _extension_value(name, value)
    instance_id = extensions.pop(INSTANCE_ID_EXTENSION, None)
    if instance_id is not None and (not instance_id or len(instance_id) > _ID_LIMIT):
        raise InvalidCloudEventError(f"{INSTANCE_ID_EXTENSION} must be 1-{_ID_LIMIT} characters")
    return IncomingEvent(
        event_id=event_id,
        event_type=event_type,
        source=source,
        data=data,
        subject=_text(attributes, "subject", required=False),
        data_content_type=_text(attributes, "datacontenttype", required=False),
        instance_id=instance_id,
        extensions=tuple(sorted(extensions.items())),
        mode=mode,
        time=time,
    )
