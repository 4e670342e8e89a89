"""The MCP Events extension for runs, checked against the shapes of the extension's design sketch.

The design sketch is ``docs/design-sketch-proposal.md`` of ``modelcontextprotocol/experimental-ext-triggers-events``
(revision 6104601d): ``events/list`` -> ``{events, nextCursor}``; ``events/poll`` with one subscription
``{name, arguments, cursor, maxAgeMs, maxEvents, timeoutMs}`` -> ``{events, cursor, truncated, hasMore,
nextPollMs}`` (null cursor: start from now); ``events/stream`` pushes ``notifications/events/active``,
``.../event`` (a flat ``EventOccurrence``), ``.../heartbeat`` and ``.../terminated``, each tagged with the
request id in ``_meta["io.modelcontextprotocol/subscriptionId"]``; errors -32602, -32011 NotFound, -32014
Unsupported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast

import pytest
from mcp import Client, MCPError
from mcp.client.extension import ClientExtension, NotificationBinding
from mcp.client.session import ClientSession
from mcp.types import Request

from durable_core import WorkflowContext, receive, subscribe, workflow
from edda_mcp import EddaMCPServer
from edda_mcp.event_models import (
    ACTIVE_NOTIFICATION,
    EVENT_NOTIFICATION,
    EVENTS_EXTENSION,
    HEARTBEAT_NOTIFICATION,
    SUBSCRIPTION_ID_META,
    TERMINATED_NOTIFICATION,
    ListEventsParams,
    ListEventsRequest,
    ListEventsResult,
    Occurrence,
    PollEventsParams,
    PollEventsRequest,
    PollEventsResult,
    PositionParams,
    StreamErrorParams,
    StreamEventsParams,
    StreamEventsRequest,
    StreamEventsResult,
    WebhookParams,
)
from edda_mcp.feed import ChangeFeed
from edda_mcp.mcp_events import RunEvents
from edda_mcp.run_events import START_CURSOR, RunEventType
from tests.mcp import workflows as wfs
from tests.mcp.conftest import build_server
from tests.mcp.support import http_server
from tests.mcp.test_auth import ARGV as AUTH_ARGV
from tests.mcp.test_auth import client_for

MODERN = "2026-07-28"


class PushedEvents(ClientExtension):
    """Declares the events extension and records every ``notifications/events/*`` frame in order."""

    identifier = EVENTS_EXTENSION

    def __init__(self) -> None:
        self.frames: list[tuple[str, Any]] = []
        self.arrived = asyncio.Event()
        self.heartbeat = asyncio.Event()
        self.ended = asyncio.Event()

    def notifications(self) -> list[NotificationBinding[Any]]:
        return [
            NotificationBinding(method=ACTIVE_NOTIFICATION, params_type=PositionParams, handler=self._active),
            NotificationBinding(method=EVENT_NOTIFICATION, params_type=Occurrence, handler=self._event),
            NotificationBinding(
                method=HEARTBEAT_NOTIFICATION, params_type=PositionParams, handler=self._beat
            ),
            NotificationBinding(
                method=TERMINATED_NOTIFICATION, params_type=StreamErrorParams, handler=self._terminated
            ),
        ]

    async def _active(self, frame: PositionParams) -> None:
        self.frames.append(("active", frame))

    async def _event(self, frame: Occurrence) -> None:
        self.frames.append(("event", frame))
        self.arrived.set()

    async def _beat(self, frame: PositionParams) -> None:
        self.frames.append(("heartbeat", frame))
        self.heartbeat.set()

    async def _terminated(self, frame: StreamErrorParams) -> None:
        self.frames.append(("terminated", frame))
        self.ended.set()

    def of(self, kind: str) -> list[Any]:
        return [frame for name, frame in self.frames if name == kind]


class SubscribeRequest(Request[WebhookParams, Literal["events/subscribe"]]):
    method: Literal["events/subscribe"] = "events/subscribe"


@pytest.fixture
async def on_backend(db_url: str) -> AsyncIterator[EddaMCPServer]:
    """A server on each backend (the events are read from its store)."""
    server = build_server(db_url)
    yield server
    await server.app.shutdown()


async def poll(
    session: ClientSession, name: str, instance_id: str, cursor: str | None = START_CURSOR, **extra: Any
) -> PollEventsResult:
    params = PollEventsParams(name=name, arguments={"instance_id": instance_id}, cursor=cursor, **extra)
    return await session.send_request(PollEventsRequest(params=params), PollEventsResult)


def kinds(events: list[Occurrence]) -> list[str]:
    return [str(event.data["event"]) for event in events]


async def started_id(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    started = await client.call_tool(tool, arguments)
    assert started.structured_content is not None, started
    return str(started.structured_content["instance_id"])


async def test_events_list_and_capability_follow_the_design(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode="auto") as client:
        extensions = client.server_capabilities.extensions or {}
        listed = await client.session.send_request(
            ListEventsRequest(params=ListEventsParams()), ListEventsResult
        )
    assert extensions[EVENTS_EXTENSION] == {"listChanged": False}
    assert [t.name for t in listed.events] == ["run.lifecycle", "run.messages"]
    assert all(t.delivery == ["poll", "push"] for t in listed.events)
    assert listed.events[0].input_schema["required"] == ["instance_id"]
    assert listed.events[0].payload_schema == {"type": "object"}
    assert listed.next_cursor is None
    assert "eventTypes" not in (listed.model_extra or {})


async def test_a_null_cursor_starts_from_now(on_backend: EddaMCPServer) -> None:
    server = on_backend
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        iid = await started_id(client, "gated_order", {"order_id": "N1", "gate": "n1"})
        now = await poll(client.session, "run.lifecycle", iid, cursor=None)
        wfs.GATES.open("n1")
        later = await poll(client.session, "run.lifecycle", iid, now.cursor, timeoutMs=20_000)
    assert now.events == [] and now.cursor is not None and not now.truncated and not now.has_more
    assert kinds(later.events) == ["completed"]  # "started" happened before the subscription


async def test_poll_pages_from_the_start_cursor_and_ends_with_the_run(
    on_backend: EddaMCPServer,
) -> None:
    server = on_backend
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        iid = await started_id(client, "failing", {"reason": "no stock"})
        first = await poll(client.session, "run.lifecycle", iid, maxEvents=1)
        rest = await poll(client.session, "run.lifecycle", iid, first.cursor, timeoutMs=20_000)
        with pytest.raises(MCPError) as ended:
            await poll(client.session, "run.lifecycle", iid, rest.cursor)
    assert kinds(first.events) == ["started"] and first.has_more and first.next_poll_ms > 0
    assert kinds(rest.events) == ["failed"] and not rest.has_more and not rest.truncated
    assert rest.events[0].data["error"]["message"].endswith("cannot continue: no stock")
    assert first.events[0].event_id != rest.events[0].event_id
    assert first.events[0].timestamp.endswith("Z")
    # poll carries the cursor at the response level, not on each occurrence
    assert first.events[0].cursor is None and first.cursor != rest.cursor
    # a finished run ends the subscription: the next poll is the design's termination error
    assert ended.value.error.code == -32011
    assert ended.value.error.data["kind"] == "subscription"


async def test_long_poll_answers_as_soon_as_an_event_happens(on_backend: EddaMCPServer) -> None:
    server = on_backend
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        iid = await started_id(client, "gated_order", {"order_id": "L1", "gate": "l1"})
        started = await poll(client.session, "run.lifecycle", iid)
        loop = asyncio.get_running_loop()
        began = loop.time()
        quiet = await poll(client.session, "run.lifecycle", iid, started.cursor, timeoutMs=300)
        quiet_took = loop.time() - began
        held = asyncio.create_task(
            poll(client.session, "run.lifecycle", iid, started.cursor, timeoutMs=60_000)
        )
        wfs.GATES.open("l1")
        answered = await asyncio.wait_for(held, 20)  # long before the 60 s it could have waited
    assert kinds(started.events) == ["started"]
    # nothing happened: the server held the request for timeoutMs, then answered empty
    assert quiet.events == [] and quiet.cursor == started.cursor and quiet_took >= 0.3
    assert kinds(answered.events) == ["completed"]


async def test_max_age_skips_older_events_and_says_truncated(on_backend: EddaMCPServer) -> None:
    server = on_backend
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        iid = await started_id(client, "failing", {"reason": "late"})
        await client.call_tool("failing_result", {"instance_id": iid, "wait_seconds": 30})
        recent = await poll(client.session, "run.lifecycle", iid, maxAgeMs=3_600_000)
        floored = await poll(client.session, "run.lifecycle", iid, maxAgeMs=0)
    assert kinds(recent.events) == ["started", "failed"] and not recent.truncated
    assert floored.events == [] and floored.truncated and floored.cursor == recent.cursor


async def test_waiting_for_input_and_the_received_answer(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    server.durable_tool(wfs.mcp_t_approval, name="book", human_input=True, wait_seconds=0)
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        iid = await started_id(client, "book", {"amount": 12.5})
        page = await poll(client.session, "run.lifecycle", iid)
        seen = list(page.events)
        while "waiting" not in kinds(seen):
            page = await poll(client.session, "run.lifecycle", iid, page.cursor, timeoutMs=20_000)
            seen += page.events
        waiting_cursor = page.cursor
        before = await poll(client.session, "run.messages", iid)
        answer = {"approved": True, "approver": "ada"}
        responded = await client.call_tool("book_respond", {"instance_id": iid, "data": answer})
        assert not responded.is_error, responded
        completed = await poll(client.session, "run.lifecycle", iid, waiting_cursor, timeoutMs=20_000)
        messages = await poll(client.session, "run.messages", iid, before.cursor)
        replay = await poll(client.session, "run.lifecycle", iid)
    assert kinds(seen) == ["started", "waiting"]
    wait_data = seen[1].data
    assert wait_data["waits_for"] == ["approval"]
    assert wait_data["input_schemas"]["approval"]["required"] == ["approved", "approver"]
    assert before.events == []
    assert kinds(completed.events) == ["completed"]  # the wait is not delivered twice
    [message] = messages.events
    assert message.name == "run.messages" and message.data["data"] == answer
    # read from the start again: the same ids (the wait now comes from the recorded history)
    assert [e.event_id for e in replay.events] == [
        *(e.event_id for e in seen),
        completed.events[0].event_id,
    ]


@workflow
async def mcp_t_events_listener(ctx: WorkflowContext, channel: str) -> list[object]:
    """Takes two messages from a channel."""
    await subscribe(ctx, channel)
    first = await receive(ctx, channel)
    second = await receive(ctx, channel)
    return [first.data, second.data]


async def test_channel_messages_are_events_of_the_receiving_run(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    server.durable_tool(mcp_t_events_listener, name="listen", wait_seconds=0)
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        started = await client.call_tool("listen", {"channel": "news"})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        finished = await client.call_tool("listen_result", {"instance_id": iid, "wait_seconds": 0.01})
        assert finished.is_error  # still waiting: nothing was published yet
        await server.app.publish("news", {"n": 1})
        await server.app.publish("news", {"n": 2})
        result = await client.call_tool("listen_result", {"instance_id": iid, "wait_seconds": 30})
        assert not result.is_error, result
        messages = await poll(client.session, "run.messages", iid)
        lifecycle = await poll(client.session, "run.lifecycle", iid)
    assert [m.data["data"] for m in messages.events] == [{"n": 1}, {"n": 2}]
    assert all(m.data["wait"].endswith("news") for m in messages.events), messages.events
    assert kinds(lifecycle.events) == ["started", "waiting", "waiting", "completed"]
    assert lifecycle.events[1].data["waits_for"] == [messages.events[0].data["wait"]]


async def test_stream_pushes_active_events_heartbeats_and_terminated(
    on_backend: EddaMCPServer,
) -> None:
    server = on_backend
    pushed = PushedEvents()
    async with server.running(), Client(server.mcp, mode=MODERN, extensions=[pushed]) as client:
        iid = await started_id(client, "gated_order", {"order_id": "S1", "gate": "s1"})
        params = StreamEventsParams(name="run.lifecycle", arguments={"instance_id": iid}, cursor=START_CURSOR)
        stream = asyncio.create_task(
            client.session.send_request(StreamEventsRequest(params=params), StreamEventsResult)
        )
        await asyncio.wait_for(pushed.arrived.wait(), 10)
        await asyncio.wait_for(pushed.heartbeat.wait(), 10)  # a quiet stream says it is alive
        assert not stream.done()  # the run is still going: the stream stays open
        wfs.GATES.open("s1")
        closed = await asyncio.wait_for(stream, 20)
        await asyncio.wait_for(pushed.ended.wait(), 10)  # notifications may trail the closing result
    names = [name for name, _ in pushed.frames]
    assert names[0] == "active" and names[-1] == "terminated"
    assert [name for name in names if name != "heartbeat"] == ["active", "event", "event", "terminated"]
    active, *_ = pushed.of("active")
    assert active.cursor == START_CURSOR and active.truncated is False
    events: list[Occurrence] = pushed.of("event")
    assert kinds(events) == ["started", "completed"]
    assert all(e.cursor is not None and e.timestamp.endswith("Z") for e in events)
    # every frame names its stream: the JSON-RPC id of the events/stream request
    ids = {frame.meta[SUBSCRIPTION_ID_META] for _, frame in pushed.frames}
    assert len(ids) == 1 and isinstance(ids.pop(), int)
    assert pushed.of("heartbeat")[0].cursor == events[0].cursor  # checked up to "started"
    [terminated] = pushed.of("terminated")
    assert terminated.error.code == -32011 and terminated.error.data["kind"] == "subscription"
    # StreamEventsResult is empty: only _meta (and the SDK's own resultType) travel with it
    assert set(closed.model_dump(by_alias=True, exclude_none=True)) <= {"_meta", "resultType"}


async def test_stream_with_a_null_cursor_starts_from_now(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    pushed = PushedEvents()
    async with server.running(), Client(server.mcp, mode=MODERN, extensions=[pushed]) as client:
        iid = await started_id(client, "gated_order", {"order_id": "S2", "gate": "s2"})
        params = StreamEventsParams(name="run.lifecycle", arguments={"instance_id": iid})
        stream = asyncio.create_task(
            client.session.send_request(StreamEventsRequest(params=params), StreamEventsResult)
        )
        await asyncio.wait_for(pushed.heartbeat.wait(), 10)
        wfs.GATES.open("s2")
        await asyncio.wait_for(stream, 20)
        await asyncio.wait_for(pushed.ended.wait(), 10)
    assert kinds(pushed.of("event")) == ["completed"]  # "started" was before the subscription
    assert pushed.of("active")[0].cursor not in (None, START_CURSOR)


@pytest.mark.parametrize(
    ("params", "code", "fragment"),
    [
        ({"name": "run.nope", "arguments": {"instance_id": "x"}}, -32011, "unknown event type 'run.nope'"),
        ({"name": "run.lifecycle", "arguments": {}}, -32602, "arguments.instance_id: required"),
        (
            {"name": "run.lifecycle", "arguments": {"instance_id": "x", "extra": 1}},
            -32602,
            "unknown argument(s) extra",
        ),
        (
            {"name": "run.lifecycle", "arguments": {"instance_id": "nope"}},
            -32011,
            "no workflow instance with id 'nope'",
        ),
    ],
)
async def test_bad_subscriptions_name_what_was_wrong(
    server_on: Callable[..., EddaMCPServer], params: dict[str, Any], code: int, fragment: str
) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        with pytest.raises(MCPError) as caught:
            await client.session.send_request(
                PollEventsRequest(params=PollEventsParams.model_validate(params)), PollEventsResult
            )
    assert caught.value.error.code == code and fragment in caught.value.error.message
    if code == -32011:
        assert caught.value.error.data["kind"] in ("event", "instance")


async def test_webhook_delivery_is_unsupported(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        params = WebhookParams.model_validate(
            {"name": "run.lifecycle", "arguments": {"instance_id": "x"}, "delivery": {"url": "https://h/x"}}
        )
        with pytest.raises(MCPError) as caught:
            await client.session.send_request(SubscribeRequest(params=params), StreamEventsResult)
    assert caught.value.error.code == -32014
    assert caught.value.error.data == {"feature": "deliveryMode", "value": "webhook"}


async def test_a_cursor_from_elsewhere_is_refused(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        iid = await started_id(client, "place_order", {"order_id": "C1"})
        with pytest.raises(MCPError) as caught:
            await poll(client.session, "run.lifecycle", iid, "42")
    assert (
        caught.value.error.code == -32602
        and "was not handed out by this server" in caught.value.error.message
    )


async def test_polling_resumes_across_a_server_restart(db_url: str, tmp_path: Path) -> None:
    first_server = build_server(db_url)
    async with first_server.running(), Client(first_server.mcp, mode=MODERN) as client:
        iid = await started_id(client, "gated_order", {"order_id": "R1", "gate": "r1"})
        before = await poll(client.session, "run.lifecycle", iid)
    assert kinds(before.events) == ["started"]
    wfs.GATES.open("r1")
    second_server = build_server(db_url)
    async with second_server.running(), Client(second_server.mcp, mode=MODERN) as client:
        after: list[str] = []
        cursor = before.cursor
        while "completed" not in after:
            page = await poll(client.session, "run.lifecycle", iid, cursor, timeoutMs=20_000)
            assert page.events or page.cursor == cursor, page
            after += kinds(page.events)
            cursor = page.cursor
    assert after == ["completed"]


async def test_events_are_scoped_to_the_principal_that_started_the_run(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'owners.db'}"
    (tmp_path / "EV1.go").touch()
    async with http_server(db_url, tmp_path, argv=AUTH_ARGV) as (url, _):
        async with client_for(url, "alice-token") as alice:
            started = await alice.call_tool("e2e_order", {"order_id": "EV1"})
            assert started.structured_content is not None, started
            iid = started.structured_content["instance_id"]
            await alice.call_tool("e2e_order_result", {"instance_id": iid, "wait_seconds": 30})
            mine = await poll(alice.session, "run.lifecycle", iid)
        async with client_for(url, "bob-token") as bob:
            with pytest.raises(MCPError) as theirs:
                await poll(bob.session, "run.lifecycle", iid)
    assert kinds(mine.events) == ["started", "completed"]
    # another principal's run looks exactly like one that does not exist
    assert theirs.value.error.code == -32011
    assert theirs.value.error.message == f"arguments.instance_id: no workflow instance with id {iid!r}"


class _UnreachableStore:
    """An engine whose store cannot be read (a database that went away for a moment)."""

    async def get_instance(self, instance_id: str) -> Any:
        raise ConnectionError("database restarting")


class _RecordingSession:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send_notification(self, notification: Any, related_request_id: Any = None) -> None:
        self.sent.append(notification)


async def test_a_failed_store_read_is_a_recoverable_stream_error(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        iid = await started_id(client, "place_order", {"order_id": "E1"})
        record = await server.app.get_instance(iid)
    session = _RecordingSession()
    ctx = cast(Any, SimpleNamespace(request_id=7, session=session))
    events = RunEvents(lambda: cast(Any, _UnreachableStore()), ChangeFeed())
    kept, pending = await events._reread(ctx, record, RunEventType.LIFECYCLE, 0)
    assert kept is record and pending == []  # the stream keeps its place and tries again
    [frame] = session.sent
    dumped = frame.model_dump(by_alias=True, exclude_none=True)
    assert dumped["method"] == "notifications/events/error"
    assert dumped["params"]["error"]["code"] == -32603
    assert dumped["params"]["error"]["data"] == {"reason": "ConnectionError"}
    assert dumped["params"]["_meta"] == {SUBSCRIPTION_ID_META: 7}


async def test_a_cancelled_stream_stops_and_releases_its_watch(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    pushed = PushedEvents()
    async with server.running(), Client(server.mcp, mode=MODERN, extensions=[pushed]) as client:
        iid = await started_id(client, "gated_order", {"order_id": "X1", "gate": "x1"})
        params = StreamEventsParams(name="run.lifecycle", arguments={"instance_id": iid}, cursor=START_CURSOR)
        stream = asyncio.create_task(
            client.session.send_request(StreamEventsRequest(params=params), StreamEventsResult)
        )
        await asyncio.wait_for(pushed.arrived.wait(), 10)
        watching = server._feed._events  # the per-run wake-ups a stream holds while it is open
        assert iid in watching
        stream.cancel()  # the client sends notifications/cancelled for the request
        with contextlib.suppress(TimeoutError):  # bounded; asserted below
            async with asyncio.timeout(20):
                while iid in watching:  # noqa: ASYNC110 - the feed offers no event for a released watch
                    await asyncio.sleep(0.01)
        assert iid not in watching
        wfs.GATES.open("x1")
        await client.call_tool("gated_order_result", {"instance_id": iid, "wait_seconds": 30})
    assert kinds(pushed.of("event")) == ["started"] and pushed.of("terminated") == []
