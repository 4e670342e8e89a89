"""The io.modelcontextprotocol/events extension: run lifecycle events and messages, from the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.client.extension import ClientExtension, NotificationBinding
from mcp.client.session import ClientSession

from durable_core import WorkflowContext, receive, subscribe, workflow
from edda_mcp import EddaMCPServer
from edda_mcp.event_models import (
    EVENT_NOTIFICATION,
    EVENTS_EXTENSION,
    EventFrameParams,
    ListEventsParams,
    ListEventsRequest,
    ListEventsResult,
    PollEventsParams,
    PollEventsRequest,
    PollEventsResult,
    StreamEventsParams,
    StreamEventsRequest,
    StreamEventsResult,
)
from tests.mcp import workflows as wfs
from tests.mcp.conftest import build_server
from tests.mcp.support import http_server
from tests.mcp.test_auth import ARGV as AUTH_ARGV
from tests.mcp.test_auth import client_for

MODERN = "2026-07-28"


class PushedEvents(ClientExtension):
    """Declares the events extension and collects pushed occurrences."""

    identifier = EVENTS_EXTENSION

    def __init__(self) -> None:
        self.frames: list[EventFrameParams] = []
        self.arrived = asyncio.Event()
        self.ended = asyncio.Event()

    def notifications(self) -> list[NotificationBinding[Any]]:
        return [
            NotificationBinding(method=EVENT_NOTIFICATION, params_type=EventFrameParams, handler=self._on)
        ]

    async def _on(self, frame: EventFrameParams) -> None:
        self.frames.append(frame)
        self.arrived.set()
        if frame.event.data.get("event") in ("completed", "failed", "cancelled"):
            self.ended.set()


async def poll(
    session: ClientSession, name: str, instance_id: str, cursor: str | None = None, **extra: Any
) -> PollEventsResult:
    params = PollEventsParams(name=name, arguments={"instance_id": instance_id}, cursor=cursor, **extra)
    return await session.send_request(PollEventsRequest(params=params), PollEventsResult)


def kinds(result: PollEventsResult) -> list[str]:
    return [str(event.data["event"]) for event in result.events]


async def test_events_list_names_the_run_event_types(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        listed = await client.session.send_request(
            ListEventsRequest(params=ListEventsParams()), ListEventsResult
        )
    names = [t["name"] for t in listed.event_types]
    assert names == ["run.lifecycle", "run.messages"]
    assert all(t["delivery"] == ["poll", "push"] for t in listed.event_types)
    assert listed.event_types[0]["inputSchema"]["required"] == ["instance_id"]


async def test_poll_pages_with_a_cursor_and_ends_with_the_run(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        started = await client.call_tool("failing", {"reason": "no stock"})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        first = await poll(client.session, "run.lifecycle", iid, maxEvents=1)
        rest = await poll(client.session, "run.lifecycle", iid, first.cursor)
        after_end = await poll(client.session, "run.lifecycle", iid, rest.cursor)
    assert kinds(first) == ["started"] and first.has_more and first.next_poll_ms is not None
    assert kinds(rest) == ["failed"] and not rest.has_more
    assert rest.events[0].data["error"]["message"].endswith("cannot continue: no stock")
    assert rest.next_poll_ms is None  # a finished run has nothing more to say
    assert after_end.events == [] and after_end.cursor == rest.cursor
    assert first.events[0].event_id != rest.events[0].event_id


async def test_waiting_for_input_and_the_received_answer(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    server.durable_tool(wfs.mcp_t_approval, name="book", human_input=True, wait_seconds=0)
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        started = await client.call_tool("book", {"amount": 12.5})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]

        async def lifecycle_until(kind: str, cursor: str | None) -> PollEventsResult:
            for _ in range(400):
                result = await poll(client.session, "run.lifecycle", iid, cursor)
                if kind in kinds(result):
                    return result
                await asyncio.sleep(0.05)
            raise AssertionError(f"no {kind} event")

        waiting = await lifecycle_until("waiting", None)
        before = await poll(client.session, "run.messages", iid)
        answer = {"approved": True, "approver": "ada"}
        responded = await client.call_tool("book_respond", {"instance_id": iid, "data": answer})
        assert not responded.is_error, responded
        completed = await lifecycle_until("completed", waiting.cursor)
        messages = await poll(client.session, "run.messages", iid, before.cursor)
        replay = await poll(client.session, "run.lifecycle", iid)
    assert kinds(waiting) == ["started", "waiting"]
    wait_data = waiting.events[1].data
    assert wait_data["waits_for"] == ["approval"]
    assert wait_data["input_schemas"]["approval"]["required"] == ["approved", "approver"]
    assert before.events == []
    assert kinds(completed) == ["completed"]  # the wait is not delivered twice
    [message] = messages.events
    assert message.name == "run.messages" and message.data["data"] == answer
    # read from the start again: the same ids (the wait now comes from the recorded history)
    assert [e.event_id for e in replay.events] == [
        *(e.event_id for e in waiting.events),
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
    assert kinds(lifecycle) == ["started", "waiting", "waiting", "completed"]
    assert lifecycle.events[1].data["waits_for"] == [messages.events[0].data["wait"]]


async def test_stream_pushes_each_event_until_the_run_ends(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    pushed = PushedEvents()
    async with server.running(), Client(server.mcp, mode=MODERN, extensions=[pushed]) as client:
        started = await client.call_tool("gated_order", {"order_id": "S1", "gate": "s1"})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        params = StreamEventsParams(name="run.lifecycle", arguments={"instance_id": iid})
        stream = asyncio.create_task(
            client.session.send_request(StreamEventsRequest(params=params), StreamEventsResult)
        )
        await asyncio.wait_for(pushed.arrived.wait(), 10)
        assert not stream.done()  # the run is still going: the stream stays open
        wfs.GATES.open("s1")
        await asyncio.wait_for(stream, 20)
        await asyncio.wait_for(pushed.ended.wait(), 10)  # notifications may trail the closing result
    assert [f.event.data["event"] for f in pushed.frames] == ["started", "completed"]
    assert pushed.frames[-1].cursor == pushed.frames[-1].event.cursor


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"name": "run.nope", "arguments": {"instance_id": "x"}}, "unknown event type 'run.nope'"),
        ({"name": "run.lifecycle", "arguments": {}}, "arguments.instance_id: required"),
        (
            {"name": "run.lifecycle", "arguments": {"instance_id": "x", "extra": 1}},
            "unknown argument(s) extra",
        ),
        (
            {"name": "run.lifecycle", "arguments": {"instance_id": "nope"}},
            "no workflow instance with id 'nope'",
        ),
    ],
)
async def test_bad_subscriptions_are_invalid_params(
    server_on: Callable[..., EddaMCPServer], params: dict[str, Any], fragment: str
) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        with pytest.raises(MCPError) as caught:
            await client.session.send_request(
                PollEventsRequest(params=PollEventsParams.model_validate(params)), PollEventsResult
            )
    assert caught.value.error.code == -32602 and fragment in caught.value.error.message


async def test_a_cursor_from_elsewhere_is_refused(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp, mode=MODERN) as client:
        started = await client.call_tool("place_order", {"order_id": "C1"})
        assert started.structured_content is not None
        with pytest.raises(MCPError) as caught:
            await poll(client.session, "run.lifecycle", started.structured_content["instance_id"], "42")
    assert (
        caught.value.error.code == -32602
        and "was not handed out by this server" in caught.value.error.message
    )


async def test_polling_resumes_across_a_server_restart(db_url: str, tmp_path: Path) -> None:
    first_server = build_server(db_url)
    async with first_server.running(), Client(first_server.mcp, mode=MODERN) as client:
        started = await client.call_tool("gated_order", {"order_id": "R1", "gate": "r1"})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        before = await poll(client.session, "run.lifecycle", iid)
    assert kinds(before) == ["started"]
    wfs.GATES.open("r1")
    second_server = build_server(db_url)
    async with second_server.running(), Client(second_server.mcp, mode=MODERN) as client:
        after: list[str] = []
        cursor = before.cursor
        for _ in range(600):
            page = await poll(client.session, "run.lifecycle", iid, cursor)
            after += kinds(page)
            cursor = page.cursor
            if "completed" in after:
                break
            await asyncio.sleep(0.05)
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
    assert kinds(mine) == ["started", "completed"]
    # another principal's run looks exactly like one that does not exist
    assert theirs.value.error.code == -32602
    assert theirs.value.error.message == f"arguments.instance_id: no workflow instance with id {iid!r}"
