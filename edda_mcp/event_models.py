"""Wire models of the ``io.modelcontextprotocol/events`` extension (SEP-3415): poll and push delivery."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from mcp.types import Notification, NotificationParams, Request, RequestParams, Result
from pydantic import BaseModel, ConfigDict, Field

EVENTS_EXTENSION = "io.modelcontextprotocol/events"
EVENT_NOTIFICATION = "notifications/events/event"
DEFAULT_MAX_EVENTS = 50
MAX_EVENTS = 100


class ListEventsParams(RequestParams):
    """Params of ``events/list`` (a cursor for paging; this server lists every type at once)."""

    cursor: str | None = None


class SubscriptionParams(RequestParams):
    """One subscription: an event type and its arguments, resumed after ``cursor`` (None: from the start)."""

    name: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict)
    cursor: str | None = Field(None, max_length=200)


class PollEventsParams(SubscriptionParams):
    """Params of ``events/poll``."""

    max_events: int = Field(DEFAULT_MAX_EVENTS, alias="maxEvents", ge=1, le=MAX_EVENTS)


class StreamEventsParams(SubscriptionParams):
    """Params of ``events/stream``: occurrences are pushed as notifications until the run ends."""


class Occurrence(BaseModel):
    """One delivered event."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event_id: str = Field(alias="eventId")
    name: str
    timestamp: str
    data: dict[str, Any]
    cursor: str


class PollEventsResult(Result):
    """The result of ``events/poll``."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    events: list[Occurrence]
    cursor: str | None
    has_more: bool = Field(alias="hasMore")
    truncated: bool = False
    next_poll_ms: int | None = Field(None, alias="nextPollMs")


class ListEventsResult(Result):
    """The result of ``events/list``."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event_types: list[dict[str, Any]] = Field(alias="eventTypes")
    next_cursor: str | None = Field(None, alias="nextCursor")


class EventFrameParams(NotificationParams):
    """Params of ``notifications/events/event``: the occurrence and the cursor after it."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event: Occurrence
    cursor: str


class EventNotification(Notification[EventFrameParams, Literal["notifications/events/event"]]):
    """One pushed occurrence of an ``events/stream`` request."""

    method: Literal["notifications/events/event"] = "notifications/events/event"


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


class StreamEventsResult(Result):
    """The empty result that closes an ``events/stream`` request."""

    model_config = ConfigDict(extra="allow")
