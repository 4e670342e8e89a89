"""The MCP Events extension for runs: ``events/list``, ``events/poll`` and ``events/stream``, from the store.

Wire shapes follow the extension's design sketch (``modelcontextprotocol/experimental-ext-triggers-events``,
``docs/design-sketch-proposal.md`` at 6104601d). ``events/list`` names two event types (``run.lifecycle``
and ``run.messages``); a subscription is ``(name, {"instance_id": ...})``. A null cursor starts from now;
:data:`~edda_mcp.run_events.START_CURSOR` reads a run from its beginning. Occurrences are derived from
the durable store (see :mod:`edda_mcp.run_events`), so cursors survive restarts and any replica serves
them; a caller sees only runs it may access (principal-scoped when auth is on). Webhook delivery is not
offered: ``events/subscribe`` and ``events/unsubscribe`` answer ``Unsupported``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from mcp.server.context import HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS

from durable_core import EddaApp, InstanceNotFoundError, InstanceRecord
from edda_mcp import access
from edda_mcp.event_models import (
    EVENTS_EXTENSION,
    MAX_TIMEOUT_MS,
    NOT_FOUND,
    SUBSCRIPTION_ID_META,
    UNSUPPORTED,
    ActiveNotification,
    ErrorNotification,
    EventNotification,
    HeartbeatNotification,
    ListEventsParams,
    Occurrence,
    PollEventsParams,
    StreamError,
    StreamEventsParams,
    SubscriptionParams,
    TerminatedNotification,
    WebhookParams,
)
from edda_mcp.feed import ChangeFeed
from edda_mcp.run_events import (
    END_KEY,
    START_CURSOR,
    CursorError,
    RunEventType,
    RunOccurrence,
    decode_cursor,
    encode_cursor,
    read_occurrences,
)
from edda_mcp.status import RUNNING_POLL_SECONDS

logger = logging.getLogger(__name__)

_SUBSCRIPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"instance_id": {"type": "string", "description": "the run (instance id) to follow"}},
    "required": ["instance_id"],
    "additionalProperties": False,
}
_DESCRIPTIONS = {
    RunEventType.LIFECYCLE: "A run started, is waiting for input or a message, completed, failed or was cancelled.",
    RunEventType.MESSAGES: "A run received a message (a channel message or an event), as its history recorded it.",
}
RUN_ENDED = StreamError(
    code=NOT_FOUND,
    message="NotFound",
    data={"kind": "subscription", "reason": "the run has ended and all its events were delivered"},
)


@dataclass(frozen=True, slots=True)
class _Subscription:
    """A validated subscription: the run, the event type and the key delivered up to (None: from now)."""

    record: InstanceRecord
    name: RunEventType
    after: int | None


@dataclass(frozen=True, slots=True)
class _Page:
    """What a subscription has to deliver after a key, and where it stands."""

    pending: list[RunOccurrence]
    after: int
    truncated: bool


class RunEvents(Extension):
    """Serves the events methods for durable runs (poll and push; webhook answers ``Unsupported``).

    Args:
        app: the engine whose store the events are read from.
        feed: wakes a stream or long poll as soon as a run changes in this process (others are polled).
        stream_poll_seconds: how often a stream re-reads the store when nothing woke it; a quiet period
            of this length sends a heartbeat (the design asks for one at least every 30 seconds).
    """

    identifier = EVENTS_EXTENSION

    def __init__(
        self,
        app: Callable[[], EddaApp],
        feed: ChangeFeed,
        *,
        stream_poll_seconds: float = RUNNING_POLL_SECONDS,
    ) -> None:
        self._app = app
        self._feed = feed
        self._stream_poll = stream_poll_seconds

    def settings(self) -> dict[str, Any]:
        """The design's events capability: the event types never change while the server runs."""
        return {"listChanged": False}

    def methods(self) -> Sequence[MethodBinding]:
        """``events/list``, ``events/poll``, ``events/stream``; ``events/subscribe|unsubscribe`` refuse."""
        return (
            MethodBinding("events/list", ListEventsParams, self._list),
            MethodBinding("events/poll", PollEventsParams, self._poll),
            MethodBinding("events/stream", StreamEventsParams, self._stream),
            MethodBinding("events/subscribe", WebhookParams, _no_webhooks),
            MethodBinding("events/unsubscribe", WebhookParams, _no_webhooks),
        )

    async def _list(self, ctx: ServerRequestContext[Any, Any], params: ListEventsParams) -> HandlerResult:
        descriptors = [
            {
                "name": kind.value,
                "description": _DESCRIPTIONS[kind],
                "delivery": ["poll", "push"],
                "inputSchema": _SUBSCRIPTION_SCHEMA,
                "payloadSchema": {"type": "object"},
            }
            for kind in RunEventType
        ]
        return {"events": descriptors}

    async def _poll(self, ctx: ServerRequestContext[Any, Any], params: PollEventsParams) -> HandlerResult:
        sub = await self._subscription(params)
        next_poll_ms = int(self._stream_poll * 1000)
        if sub.after is None:  # null: start from now, no events
            now = await self._page(sub.record, sub.name, None, None)
            return _poll_result([], now.after, truncated=False, has_more=False, next_poll_ms=next_poll_ms)
        if sub.record.status.is_finished and sub.after >= END_KEY:
            raise MCPError(RUN_ENDED.code, RUN_ENDED.message, RUN_ENDED.data)
        page = await self._wait_for_page(sub, params)
        delivered = page.pending[: params.max_events]
        after = delivered[-1].key if delivered else page.after
        has_more = len(page.pending) > len(delivered)
        return _poll_result(delivered, after, page.truncated, has_more, next_poll_ms)

    async def _wait_for_page(self, sub: _Subscription, params: PollEventsParams) -> _Page:
        """The long poll: read now, and again on each change until something is pending or time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(params.timeout_ms, MAX_TIMEOUT_MS) / 1000
        floor = self._floor(params.max_age_ms)
        record, after = sub.record, cast(int, sub.after)
        with self._feed.watch(record.instance_id) as changed:
            page = await self._page(record, sub.name, after, floor)
            while not page.pending and not record.status.is_finished:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), min(remaining, self._stream_poll))
                changed.clear()
                record = await self._app().get_instance(record.instance_id)
                later = await self._page(record, sub.name, page.after, None)
                page = _Page(later.pending, later.after, page.truncated)
        return page

    async def _stream(self, ctx: ServerRequestContext[Any, Any], params: StreamEventsParams) -> HandlerResult:
        sub = await self._subscription(params)
        record = sub.record
        first = await self._page(record, sub.name, sub.after, self._floor(params.max_age_ms))
        after = first.after if sub.after is None else sub.after
        await _send(ctx, ActiveNotification, {"cursor": _cursor(after), "truncated": first.truncated})
        pending = [] if sub.after is None else first.pending
        with self._feed.watch(record.instance_id) as changed:
            while True:
                for occurrence in pending:
                    await _send(ctx, EventNotification, _wire(occurrence).model_dump(by_alias=True))
                    after = occurrence.key
                if record.status.is_finished:
                    await _send(ctx, TerminatedNotification, {"error": RUN_ENDED.model_dump()})
                    return {"_meta": {}}
                # woken by a change here, or after the poll period: another process may have moved the run
                try:
                    await asyncio.wait_for(changed.wait(), self._stream_poll)
                except TimeoutError:
                    await _send(ctx, HeartbeatNotification, {"cursor": _cursor(after)})
                changed.clear()
                record, pending = await self._reread(ctx, record, sub.name, after)

    async def _reread(
        self, ctx: ServerRequestContext[Any, Any], record: InstanceRecord, name: RunEventType, after: int
    ) -> tuple[InstanceRecord, list[RunOccurrence]]:
        """The run and what it has after ``after``; a failed read is a recoverable stream error."""
        try:
            fresh = await self._app().get_instance(record.instance_id)
            return fresh, (await self._page(fresh, name, after, None)).pending
        except Exception as exc:  # the store may be briefly unreachable: say so, keep the stream, retry
            logger.warning("events/stream: reading run %s failed: %s", record.instance_id, exc)
            error = StreamError(
                code=INTERNAL_ERROR, message="StoreUnavailable", data={"reason": type(exc).__name__}
            )
            await _send(ctx, ErrorNotification, {"error": error.model_dump()})
            return record, []

    async def _page(
        self, record: InstanceRecord, name: RunEventType, after: int | None, floor: datetime | None
    ) -> _Page:
        """Occurrences after ``after`` (None: none, positioned at the latest), dropping those before ``floor``."""
        found = await read_occurrences(self._app(), record, name)
        if after is None:
            return _Page([], found[-1].key if found else -1, truncated=False)
        pending = [o for o in found if o.key > after]
        if floor is not None:
            kept = [o for o in pending if o.timestamp >= floor]
            skipped = [o.key for o in pending if o.timestamp < floor]
            if skipped:  # replay begins at the maxAgeMs floor: say that events were skipped
                return _Page(kept, max(skipped), truncated=True)
        return _Page(pending, after, truncated=False)

    def _floor(self, max_age_ms: int | None) -> datetime | None:
        return None if max_age_ms is None else self._app().clock.now() - timedelta(milliseconds=max_age_ms)

    async def _subscription(self, params: SubscriptionParams) -> _Subscription:
        try:
            name = RunEventType(params.name)
        except ValueError:
            known = ", ".join(kind.value for kind in RunEventType)
            message = f"name: unknown event type {params.name!r} (this server offers {known})"
            raise MCPError(NOT_FOUND, message, {"kind": "event"}) from None
        extra = sorted(set(params.arguments) - {"instance_id"})
        if extra:
            raise _invalid(f"arguments: unknown argument(s) {', '.join(extra)} (expected instance_id)")
        instance_id = params.arguments.get("instance_id")
        if not isinstance(instance_id, str) or not instance_id:
            raise _invalid("arguments.instance_id: required, a run's instance id (string)")
        try:
            after = None if params.cursor is None else decode_cursor(params.cursor)
        except CursorError as exc:
            raise _invalid(str(exc)) from None
        return _Subscription(await self._record(instance_id), name, after)

    async def _record(self, instance_id: str) -> InstanceRecord:
        message = f"arguments.instance_id: no workflow instance with id {instance_id[:200]!r}"
        missing = MCPError(NOT_FOUND, message, {"kind": "instance"})
        if not access.may_access(access.current_principal(), instance_id):
            raise missing  # another principal's run looks exactly like one that does not exist
        try:
            return await self._app().get_instance(instance_id)
        except InstanceNotFoundError:
            raise missing from None


def _cursor(after: int) -> str:
    return START_CURSOR if after < 0 else encode_cursor(after)


def _poll_result(
    delivered: list[RunOccurrence], after: int, truncated: bool, has_more: bool, next_poll_ms: int
) -> HandlerResult:
    return {
        "events": [
            _wire(o).model_dump(by_alias=True, exclude={"cursor"}, exclude_none=True) for o in delivered
        ],
        "cursor": _cursor(after),
        "truncated": truncated,
        "hasMore": has_more,
        "nextPollMs": next_poll_ms,
    }


def _wire(occurrence: RunOccurrence) -> Occurrence:
    return Occurrence(
        event_id=occurrence.event_id,
        name=occurrence.name.value,
        timestamp=occurrence.timestamp.isoformat().replace("+00:00", "Z"),
        data=occurrence.data,
        cursor=occurrence.cursor,
    )


async def _send(ctx: ServerRequestContext[Any, Any], kind: type[Any], params: dict[str, Any]) -> None:
    """Sends a ``notifications/events/*`` frame tagged with the stream's request id."""
    frame = kind(params={**params, "_meta": {SUBSCRIPTION_ID_META: ctx.request_id}})
    # the SDK's typed union lists only spec notifications; an extension's own goes through the same channel
    await ctx.session.send_notification(cast(Any, frame), related_request_id=ctx.request_id)


async def _no_webhooks(ctx: ServerRequestContext[Any, Any], params: WebhookParams) -> HandlerResult:
    raise MCPError(
        UNSUPPORTED,
        "Unsupported: webhook delivery is not offered by this server (use events/poll or events/stream)",
        {"feature": "deliveryMode", "value": "webhook"},
    )


def _invalid(message: str) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=message)
