"""The ``io.modelcontextprotocol/events`` extension: a run's lifecycle events and messages, from the store.

``events/list`` names the two event types (``run.lifecycle`` and ``run.messages``); a subscription is
``(name, {"instance_id": ...})``. ``events/poll`` returns the occurrences after a cursor and
``events/stream`` pushes them as ``notifications/events/event`` until the run has ended. Occurrences
are derived from the durable store (see :mod:`edda_mcp.run_events`), so cursors survive restarts and
any replica serves them; a caller sees only runs it may access (principal-scoped when auth is on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, cast

from mcp.server.context import HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from durable_core import EddaApp, InstanceNotFoundError, InstanceRecord
from edda_mcp import access
from edda_mcp.event_models import (
    EVENTS_EXTENSION,
    EventFrameParams,
    EventNotification,
    ListEventsParams,
    Occurrence,
    PollEventsParams,
    StreamEventsParams,
    SubscriptionParams,
)
from edda_mcp.feed import ChangeFeed
from edda_mcp.run_events import CursorError, RunEventType, RunOccurrence, decode_cursor, read_occurrences
from edda_mcp.status import RUNNING_POLL_SECONDS

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


class RunEvents(Extension):
    """Serves ``events/list``, ``events/poll`` and ``events/stream`` for durable runs.

    Args:
        app: the engine whose store the events are read from.
        feed: wakes a stream as soon as a run changes in this process (other processes are polled).
        stream_poll_seconds: how often a stream re-reads the store when nothing woke it.
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

    def methods(self) -> Sequence[MethodBinding]:
        """``events/list``, ``events/poll`` and ``events/stream``."""
        return (
            MethodBinding("events/list", ListEventsParams, self._list),
            MethodBinding("events/poll", PollEventsParams, self._poll),
            MethodBinding("events/stream", StreamEventsParams, self._stream),
        )

    async def _list(self, ctx: ServerRequestContext[Any, Any], params: ListEventsParams) -> HandlerResult:
        types = [
            {
                "name": kind.value,
                "description": _DESCRIPTIONS[kind],
                "inputSchema": _SUBSCRIPTION_SCHEMA,
                "payloadSchema": {"type": "object"},
                "delivery": ["poll", "push"],
            }
            for kind in RunEventType
        ]
        return {"eventTypes": types}

    async def _poll(self, ctx: ServerRequestContext[Any, Any], params: PollEventsParams) -> HandlerResult:
        record, name, after = await self._subscription(params)
        pending = [o for o in await read_occurrences(self._app(), record, name) if o.key > after]
        delivered = pending[: params.max_events]
        cursor = delivered[-1].cursor if delivered else params.cursor
        finished = record.status.is_finished and len(delivered) == len(pending)
        return {
            "events": [_wire(o).model_dump(by_alias=True, mode="json") for o in delivered],
            "cursor": cursor,
            "hasMore": len(pending) > len(delivered),
            "truncated": False,
            # a finished run has nothing more to say: no next poll
            "nextPollMs": None if finished else int(self._stream_poll * 1000),
        }

    async def _stream(self, ctx: ServerRequestContext[Any, Any], params: StreamEventsParams) -> HandlerResult:
        record, name, after = await self._subscription(params)
        with self._feed.watch(record.instance_id) as changed:
            while True:
                for occurrence in await read_occurrences(self._app(), record, name):
                    if occurrence.key > after:
                        await _push(ctx, occurrence)
                        after = occurrence.key
                if record.status.is_finished:
                    return {}
                # woken by a change here, or after the poll period: another process may have moved the run
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self._stream_poll)
                changed.clear()
                record = await self._app().get_instance(record.instance_id)

    async def _subscription(self, params: SubscriptionParams) -> tuple[InstanceRecord, RunEventType, int]:
        try:
            name = RunEventType(params.name)
        except ValueError:
            known = ", ".join(kind.value for kind in RunEventType)
            raise _invalid(f"name: unknown event type {params.name!r} (this server offers {known})") from None
        extra = sorted(set(params.arguments) - {"instance_id"})
        if extra:
            raise _invalid(f"arguments: unknown argument(s) {', '.join(extra)} (expected instance_id)")
        instance_id = params.arguments.get("instance_id")
        if not isinstance(instance_id, str) or not instance_id:
            raise _invalid("arguments.instance_id: required, a run's instance id (string)")
        try:
            after = decode_cursor(params.cursor)
        except CursorError as exc:
            raise _invalid(str(exc)) from None
        return await self._record(instance_id), name, after

    async def _record(self, instance_id: str) -> InstanceRecord:
        missing = _invalid(f"arguments.instance_id: no workflow instance with id {instance_id[:200]!r}")
        if not access.may_access(access.current_principal(), instance_id):
            raise missing  # another principal's run looks exactly like one that does not exist
        try:
            return await self._app().get_instance(instance_id)
        except InstanceNotFoundError:
            raise missing from None


def _wire(occurrence: RunOccurrence) -> Occurrence:
    return Occurrence(
        event_id=occurrence.event_id,
        name=occurrence.name.value,
        timestamp=occurrence.timestamp.isoformat().replace("+00:00", "Z"),
        data=occurrence.data,
        cursor=occurrence.cursor,
    )


async def _push(ctx: ServerRequestContext[Any, Any], occurrence: RunOccurrence) -> None:
    frame = EventFrameParams.model_validate(
        {
            "event": _wire(occurrence).model_dump(by_alias=True),
            "cursor": occurrence.cursor,
            "_meta": {"subscriptionId": str(ctx.request_id)},
        }
    )
    notification = EventNotification(params=frame)
    # the SDK's typed union lists only spec notifications; an extension's own goes through the same channel
    await ctx.session.send_notification(cast(Any, notification), related_request_id=ctx.request_id)


def _invalid(message: str) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=message)
