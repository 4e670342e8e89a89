"""Wire models of the MCP Events extension, as its design sketch defines them (poll and push delivery).

Shapes follow ``docs/design-sketch-proposal.md`` of ``modelcontextprotocol/experimental-ext-triggers-events``
(revision 6104601d): ``events/list`` answers ``{events, nextCursor}``; ``events/poll`` takes one
subscription ``{name, arguments, cursor, maxAgeMs, maxEvents, timeoutMs}`` and answers
``{events, cursor, truncated, hasMore, nextPollMs}``; ``events/stream`` pushes
``notifications/events/active|event|heartbeat|error|terminated``, each tagged with the stream's request id
in ``_meta["io.modelcontextprotocol/subscriptionId"]``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from mcp.types import Notification, NotificationParams, Request, RequestParams, Result
from pydantic import BaseModel, ConfigDict, Field

EVENTS_EXTENSION = "io.modelcontextprotocol/events"
SUBSCRIPTION_ID_META = "io.modelcontextprotocol/subscriptionId"
EVENT_NOTIFICATION = "notifications/events/event"
ACTIVE_NOTIFICATION = "notifications/events/active"
HEARTBEAT_NOTIFICATION = "notifications/events/heartbeat"
ERROR_NOTIFICATION = "notifications/events/error"
TERMINATED_NOTIFICATION = "notifications/events/terminated"
DEFAULT_MAX_EVENTS = 50
MAX_EVENTS = 100
MAX_TIMEOUT_MS = 60_000
"""The longest this server holds a long poll open (the design lets a server answer earlier, empty)."""

# The design's general-purpose error codes (its "Error Codes" table); -32602 is JSON-RPC's invalid params.
NOT_FOUND = -32011
FORBIDDEN = -32012
RESOURCE_EXHAUSTED = -32013
UNSUPPORTED = -32014


class ListEventsParams(RequestParams):
    """Params of ``events/list`` (a cursor for paging; this server lists every type at once)."""

    cursor: str | None = None


class SubscriptionParams(RequestParams):
    """One subscription: an event type and its arguments, resumed after ``cursor`` (None: from now on)."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict)
    cursor: str | None = Field(None, max_length=200)
    max_age_ms: int | None = Field(None, alias="maxAgeMs", ge=0)


class PollEventsParams(SubscriptionParams):
    """Params of ``events/poll``: at most ``maxEvents`` occurrences, waiting up to ``timeoutMs`` for one."""

    max_events: int = Field(DEFAULT_MAX_EVENTS, alias="maxEvents", ge=1, le=MAX_EVENTS)
    timeout_ms: int = Field(0, alias="timeoutMs", ge=0)


class StreamEventsParams(SubscriptionParams):
    """Params of ``events/stream``: occurrences are pushed as notifications until the run ends."""


class Occurrence(NotificationParams):
    """An ``EventOccurrence``: an entry of a poll's ``events`` and the params of ``notifications/events/event``."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event_id: str = Field(alias="eventId")
    name: str
    timestamp: str
    data: dict[str, Any]
    cursor: str | None = None


class PollEventsResult(Result):
    """The result of ``events/poll``."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    events: list[Occurrence]
    cursor: str | None = None
    truncated: bool = False
    has_more: bool = Field(alias="hasMore")
    next_poll_ms: int = Field(alias="nextPollMs")


class EventDescriptor(BaseModel):
    """One entry of ``events/list``."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    name: str
    description: str | None = None
    delivery: list[Literal["poll", "push", "webhook"]]
    input_schema: dict[str, Any] = Field(alias="inputSchema")
    payload_schema: dict[str, Any] = Field(alias="payloadSchema")


class ListEventsResult(Result):
    """The result of ``events/list``."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    events: list[EventDescriptor]
    next_cursor: str | None = Field(None, alias="nextCursor")


class PositionParams(NotificationParams):
    """Params of ``notifications/events/active`` and ``.../heartbeat``: the position checked up to."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    cursor: str | None = None
    truncated: bool | None = None


class StreamError(BaseModel):
    """The nested ``error`` of ``notifications/events/error`` and ``.../terminated``."""

    code: int
    message: str
    data: dict[str, Any] | None = None


class StreamErrorParams(NotificationParams):
    """Params of ``notifications/events/error`` (recoverable) and ``.../terminated`` (the stream has ended)."""

    error: StreamError


class EventNotification(Notification[Occurrence, Literal["notifications/events/event"]]):
    """One pushed occurrence of an ``events/stream`` request."""

    method: Literal["notifications/events/event"] = "notifications/events/event"


class ActiveNotification(Notification[PositionParams, Literal["notifications/events/active"]]):
    """The stream is open (sent first, and again after a gap)."""

    method: Literal["notifications/events/active"] = "notifications/events/active"


class HeartbeatNotification(Notification[PositionParams, Literal["notifications/events/heartbeat"]]):
    """Keep-alive of a quiet stream, carrying the cursor checked up to."""

    method: Literal["notifications/events/heartbeat"] = "notifications/events/heartbeat"


class ErrorNotification(Notification[StreamErrorParams, Literal["notifications/events/error"]]):
    """A recoverable failure: the stream stays open and the server retries."""

    method: Literal["notifications/events/error"] = "notifications/events/error"


class TerminatedNotification(Notification[StreamErrorParams, Literal["notifications/events/terminated"]]):
    """The subscription has ended; the client should not reconnect."""

    method: Literal["notifications/events/terminated"] = "notifications/events/terminated"


class ListEventsRequest(Request[ListEventsParams, Literal["events/list"]]):
    """``events/list`` (client side)."""

    method: Literal["events/list"] = "events/list"


class PollEventsRequest(Request[PollEventsParams, Literal["events/poll"]]):
    """``events/poll`` (client side)."""

    method: Literal["events/poll"] = "events/poll"
    name_param: ClassVar[str | None] = "name"


class StreamEventsRequest(Request[StreamEventsParams, Literal["events/stream"]]):
    """``events/stream`` (client side)."""

    method: Literal["events/stream"] = "events/stream"
    name_param: ClassVar[str | None] = "name"


class WebhookParams(RequestParams):
    """Params of ``events/subscribe`` / ``events/unsubscribe`` (webhook delivery, which is not offered)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None


class StreamEventsResult(Result):
    """The empty result (``{"_meta": {}}``) that closes an ``events/stream`` request."""

    model_config = ConfigDict(extra="allow")
