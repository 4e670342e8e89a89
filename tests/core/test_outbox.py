"""Transactional outbox: rows commit with the activity, a relayer delivers them as CloudEvents over HTTP.

A real HTTP receiver runs on 127.0.0.1 (:mod:`tests.support.cloudevents_receiver`) and records every
request; it answers with the status codes it is told to. Time-dependent behaviour (backoff, the
visibility timeout of a claim) runs on a ``FakeClock``; nothing waits a fixed time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from durable_core import (
    Catalog,
    EddaApp,
    FakeClock,
    OutboxRelayer,
    OutboxStatus,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    activity,
    send_event_transactional,
    workflow,
)
from durable_core.engine.outbox import cloudevent_request
from durable_core.ingress import parse_cloudevent
from durable_core.storage.sql import SqlStorage
from durable_core.types import OutboxEvent, OutboxRecord
from tests.support.cloudevents_receiver import Receiver, serve_receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serve_receiver() as rec:
        yield rec


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll ``check`` (a database query: there is no event to wait on) until it holds, within ``timeout``."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _no_retry_policy(max_attempts: int = 5, interval: float = 10.0) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, initial_interval=interval, jitter=0, max_duration=None)


def _emitter(catalog: Catalog, count: int = 1) -> Any:
    @activity
    async def emit(ctx: WorkflowContext, order_id: str) -> list[str]:
        return [
            await send_event_transactional(
                ctx, "order.created", "order-service", {"order_id": order_id, "n": n}
            )
            for n in range(count)
        ]

    @workflow(catalog=catalog)
    async def place(ctx: WorkflowContext, order_id: str) -> list[str]:
        return await emit(ctx, order_id)

    return place


# --------------------------------------------------------------------------- delivery


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_events_are_delivered_once_after_the_activity_commits(
    make_app: Any, catalog: Catalog, receiver: Receiver, mode: str
) -> None:
    @activity
    async def create_order(ctx: WorkflowContext, order_id: str) -> dict[str, str]:
        json_id = await send_event_transactional(
            ctx,
            "order.created",
            "order-service",
            {"order_id": order_id, "total": 12.5},
            subject=f"orders/{order_id}",
            extensions={"tenant": "acme", "priority": 3},
        )
        bytes_id = await send_event_transactional(
            ctx, "order.pdf", "order-service", b"%PDF\x00\xff", data_content_type="application/pdf"
        )
        return {"json": json_id, "bytes": bytes_id}

    @workflow(catalog=catalog)
    async def order(ctx: WorkflowContext, order_id: str) -> dict[str, str]:
        return await create_order(ctx, order_id)

    app: EddaApp = await make_app(outbox_target_url=receiver.url, outbox_mode=mode, outbox_poll_interval=0.05)
    ids = await order.start_and_wait(order_id="A-1")

    async def all_sent() -> bool:
        return len(await app.list_outbox(OutboxStatus.SENT)) == 2

    await eventually(all_sent)
    assert sorted(receiver.ids()) == sorted(ids.values())  # each exactly once
    assert app.outbox_relayer is not None and await app.outbox_relayer.relay_once() == 0
    assert await app.outbox_pending() == []
    by_id = dict(zip(receiver.ids(), receiver.requests, strict=True))
    json_req, bytes_req = by_id[ids["json"]], by_id[ids["bytes"]]
    assert json_req.method == "POST" and json_req.path == "/events"
    if mode == "binary":
        h = json_req.headers
        assert h["ce-specversion"] == "1.0" and h["ce-type"] == "order.created"
        assert h["ce-source"] == "order-service" and h["ce-subject"] == "orders/A-1"
        assert h["ce-tenant"] == "acme" and h["ce-priority"] == "3" and h["ce-time"]
        assert h["content-type"] == "application/json"
        assert json.loads(json_req.body) == {"order_id": "A-1", "total": 12.5}
        assert bytes_req.headers["content-type"] == "application/pdf"
        assert bytes_req.headers["ce-type"] == "order.pdf"
        assert bytes_req.body == b"%PDF\x00\xff"
    else:
        assert json_req.headers["content-type"].startswith("application/cloudevents+json")
        doc = json.loads(json_req.body)
        assert doc["specversion"] == "1.0" and doc["type"] == "order.created" and doc["id"] == ids["json"]
        assert doc["source"] == "order-service" and doc["subject"] == "orders/A-1"
        assert doc["tenant"] == "acme" and doc["priority"] == 3 and doc["time"]
        assert doc["data"] == {"order_id": "A-1", "total": 12.5}
        pdf = json.loads(bytes_req.body)
        assert pdf["datacontenttype"] == "application/pdf"
        assert base64.b64decode(pdf["data_base64"]) == b"%PDF\x00\xff"
    stored = {r.event.event_id: r for r in await app.list_outbox()}
    assert stored[ids["bytes"]].event.data_blob == b"%PDF\x00\xff"  # stored as bytes, not base64
    assert stored[ids["json"]].attempts == 1 and stored[ids["json"]].last_status_code == 200


async def test_a_failed_attempt_leaves_no_outbox_row(make_app: Any, catalog: Catalog) -> None:
    @activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0, max_interval=0))
    async def flaky(ctx: WorkflowContext) -> str:
        await send_event_transactional(ctx, "attempt", "test", {"attempt": ctx.attempt})
        if ctx.attempt == 1:
            raise ConnectionError("after sending")
        return "ok"

    @activity
    async def doomed(ctx: WorkflowContext) -> None:
        await send_event_transactional(ctx, "never", "test", {})
        raise TerminalError("after sending")

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> str:
        result = await flaky(ctx)
        with contextlib.suppress(TerminalError):
            await doomed(ctx)
        return result

    app: EddaApp = await make_app()
    assert await wf.start_and_wait() == "ok"
    rows = await app.list_outbox()
    assert [(r.event.event_type, r.event.data_json) for r in rows] == [("attempt", {"attempt": 2})]
    assert rows[0].status is OutboxStatus.PENDING and rows[0].attempts == 0


async def test_calling_it_in_a_workflow_body_is_a_clear_error(make_app: Any, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def body(ctx: WorkflowContext) -> str:
        return await send_event_transactional(ctx, "x", "y", {})

    await make_app()
    with pytest.raises(Exception, match="inside an activity or compensation"):
        await body.start_and_wait()


# --------------------------------------------------------------------------- retries and rejection


async def _app_with_events(make_app: Any, catalog: Catalog, clock: FakeClock, count: int = 1) -> EddaApp:
    place = _emitter(catalog, count)
    app: EddaApp = await make_app(clock=clock)
    await place.start_and_wait(order_id="B-2")
    return app


async def test_5xx_is_retried_with_backoff_then_delivered(
    make_app: Any, catalog: Catalog, receiver: Receiver
) -> None:
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock)
    relayer = OutboxRelayer(app.storage, clock, receiver.url, retry_policy=_no_retry_policy(interval=10))
    try:
        receiver.statuses = [(500, "try later")]
        assert await relayer.relay_once() == 1
        [row] = await app.outbox_pending()
        assert (row.attempts, row.last_status_code, row.last_error) == (1, 500, "try later")
        assert row.next_attempt_at == clock.now() + timedelta(seconds=10)
        assert await relayer.relay_once() == 0  # backing off
        clock.advance(10)
        assert await relayer.relay_once() == 1
        [sent] = await app.list_outbox(OutboxStatus.SENT)
        assert sent.attempts == 2 and sent.sent_at == clock.now()
        assert receiver.ids() == [sent.event.event_id] * 2  # the same CloudEvent id both times
    finally:
        await relayer.stop()


async def test_4xx_is_kept_as_rejected_and_exhausted_retries_as_failed(
    make_app: Any, catalog: Catalog, receiver: Receiver
) -> None:
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock, count=2)
    relayer = OutboxRelayer(
        app.storage, clock, receiver.url, batch_size=1, retry_policy=_no_retry_policy(2, 1.0)
    )
    try:
        receiver.statuses = [(400, "schema mismatch"), (429, "slow down"), (503, "down")]
        assert await relayer.relay_once() == 1
        [rejected] = await app.list_outbox(OutboxStatus.REJECTED)
        assert (rejected.last_status_code, rejected.last_error) == (400, "schema mismatch")
        assert await relayer.relay_once() == 1  # 429: retried
        clock.advance(1)
        assert await relayer.relay_once() == 1  # 503 on the last allowed attempt: failed
        [failed] = await app.list_outbox(OutboxStatus.FAILED)
        assert (failed.attempts, failed.last_status_code, failed.last_error) == (2, 503, "down")
        clock.advance(3600)
        assert await relayer.relay_once() == 0
        assert len(receiver.requests) == 3 and len(await app.list_outbox()) == 2  # rows are kept
    finally:
        await relayer.stop()


async def test_network_errors_are_retried(make_app: Any, catalog: Catalog, receiver: Receiver) -> None:
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock)
    # a port on 127.0.0.1 with no listener: connection refused
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    dead_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    relayer = OutboxRelayer(
        app.storage, clock, f"http://127.0.0.1:{dead_port}/", retry_policy=_no_retry_policy()
    )
    try:
        assert await relayer.relay_once() == 1
        [row] = await app.outbox_pending()
        assert row.attempts == 1 and row.last_status_code is None and "Connect" in (row.last_error or "")
    finally:
        await relayer.stop()


# --------------------------------------------------------------------------- several relayers, crashes


async def test_two_relayers_never_deliver_the_same_row_twice(
    make_app: Any, catalog: Catalog, receiver: Receiver, db_url: str
) -> None:
    """On PostgreSQL/MySQL the claims use FOR UPDATE SKIP LOCKED; on SQLite (one process by design) the
    claim runs under BEGIN IMMEDIATE, the single writer lock, so concurrent claims are serialized."""
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock, count=30)
    other_storage = SqlStorage(db_url)  # a second connection pool, as another process would have
    await other_storage.initialize()
    relayers = [
        OutboxRelayer(app.storage, clock, receiver.url, batch_size=4),
        OutboxRelayer(other_storage, clock, receiver.url, batch_size=4),
    ]

    async def drain(relayer: OutboxRelayer) -> int:
        total = 0
        while handled := await relayer.relay_once():
            total += handled
        return total

    try:
        counts = await asyncio.gather(*(drain(r) for r in relayers))
        assert sum(counts) == 30
        assert len(receiver.ids()) == 30 and len(set(receiver.ids())) == 30
        assert len(await app.list_outbox(OutboxStatus.SENT)) == 30
    finally:
        for relayer in relayers:
            await relayer.stop()
        await other_storage.close()


async def test_rows_of_a_crashed_relayer_are_delivered_after_the_visibility_timeout(
    make_app: Any, catalog: Catalog, receiver: Receiver
) -> None:
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock, count=3)
    crashed = OutboxRelayer(app.storage, clock, receiver.url, visibility_timeout=30, request_timeout=5)
    survivor = OutboxRelayer(app.storage, clock, receiver.url, visibility_timeout=30, request_timeout=5)
    try:
        token, claimed = await crashed.claim()  # ... and never reports back
        assert len(claimed) == 3 and all(r.claimed_by == token for r in claimed)
        assert await survivor.relay_once() == 0  # hidden while the claim lasts
        clock.advance(29)
        assert await survivor.relay_once() == 0
        clock.advance(1)
        assert await survivor.relay_once() == 3
        sent = await app.list_outbox(OutboxStatus.SENT)
        assert len(sent) == 3 and {r.attempts for r in sent} == {2}
        assert sorted(receiver.ids()) == sorted(r.event.event_id for r in claimed)
    finally:
        await crashed.stop()
        await survivor.stop()


# --------------------------------------------------------------------------- encoding on the wire


def _row(data_json: Any = None, data_blob: bytes | None = None, **event: Any) -> OutboxRecord:
    fields: dict[str, Any] = {
        "event_id": "evt-7",
        "event_type": "menu.changed",
        "event_source": "kitchen",
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        **event,
    }
    return OutboxRecord(
        event=OutboxEvent(**fields, data_json=data_json, data_blob=data_blob),
        status=OutboxStatus.PENDING,
        attempts=1,
        next_attempt_at=fields["created_at"],
    )


ROUND_TRIPS = [
    pytest.param({"plat": "crème brûlée"}, None, "application/json", {"plat": "crème brûlée"}, id="json"),
    pytest.param(None, b"%PDF\x00\xff", "application/pdf", b"%PDF\x00\xff", id="bytes"),
    pytest.param("héllo", None, "text/plain", "héllo".encode(), id="text"),
    pytest.param(None, None, None, None, id="no-data"),
]


@pytest.mark.parametrize("mode", ["binary", "structured"])
@pytest.mark.parametrize(("data_json", "data_blob", "content_type", "expected"), ROUND_TRIPS)
def test_what_the_relayer_sends_the_ingress_reads_back(
    mode: str, data_json: Any, data_blob: bytes | None, content_type: str | None, expected: Any
) -> None:
    """Non-ASCII attributes are percent-encoded in binary-mode headers (the HTTP binding's rule) and the
    CloudEvents ingress decodes them: the event survives the trip unchanged in both modes."""
    row = _row(
        data_json,
        data_blob,
        subject='café "menu" 100%',
        data_content_type=content_type,
        extensions=(("priority", 3), ("region", "Île-de-France"), ("urgent", True)),
    )
    headers, body = cloudevent_request(row, mode)
    assert all(value.isascii() for value in headers.values()), headers
    if mode == "binary":
        assert headers["ce-subject"] == "caf%C3%A9%20%22menu%22%20100%25"
        if content_type == "text/plain":
            assert body == "héllo".encode()  # the text itself, not a JSON string
    event = parse_cloudevent(headers, body)
    assert (event.event_id, event.event_type, event.source) == ("evt-7", "menu.changed", "kitchen")
    assert event.subject == 'café "menu" 100%' and event.data == expected
    assert event.data_content_type == content_type
    assert dict(event.extensions) == {"priority": "3", "region": "Île-de-France", "urgent": "true"}


async def test_a_non_ascii_subject_is_delivered(make_app: Any, catalog: Catalog, receiver: Receiver) -> None:
    @activity
    async def emit(ctx: WorkflowContext) -> str:
        return await send_event_transactional(
            ctx, "menu.changed", "kitchen", {"n": 1}, subject="crème/brûlée"
        )

    @workflow(catalog=catalog)
    async def menu(ctx: WorkflowContext) -> str:
        return await emit(ctx)

    clock = FakeClock()
    app: EddaApp = await make_app(clock=clock)
    event_id = await menu.start_and_wait()
    relayer = OutboxRelayer(app.storage, clock, receiver.url)
    try:
        assert await relayer.relay_once() == 1
    finally:
        await relayer.stop()
    [sent] = await app.list_outbox(OutboxStatus.SENT)
    [request] = receiver.requests
    assert sent.event.event_id == event_id == request.event_id
    assert parse_cloudevent(request.headers, request.body).subject == "crème/brûlée"


# --------------------------------------------------------------------------- hardening


async def test_a_receiver_that_never_answers_is_retried_after_the_request_timeout(
    make_app: Any, catalog: Catalog, receiver: Receiver
) -> None:
    """The request timeout is a total deadline (not per read), so the claim is never outlived."""
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock)
    receiver.hold = asyncio.Event()  # accepts the request, never answers
    relayer = OutboxRelayer(
        app.storage,
        clock,
        receiver.url,
        request_timeout=0.3,
        visibility_timeout=5,
        retry_policy=_no_retry_policy(),
    )
    try:
        async with asyncio.timeout(10):
            assert await relayer.relay_once() == 1
        [row] = await app.outbox_pending()
        assert row.attempts == 1 and row.last_error == "no answer within 0.3 s"
        assert row.claimed_by is None and row.next_attempt_at == clock.now() + timedelta(seconds=10)
    finally:
        await relayer.stop()


async def test_a_redirect_is_retried_and_a_huge_error_page_is_cut(
    make_app: Any, catalog: Catalog, receiver: Receiver
) -> None:
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock)
    receiver.statuses = [(302, "moved"), (503, "E" * 200_000)]
    relayer = OutboxRelayer(app.storage, clock, receiver.url, retry_policy=_no_retry_policy(interval=1))
    try:
        assert await relayer.relay_once() == 1
        [row] = await app.outbox_pending()
        assert (row.last_status_code, row.last_error) == (302, "moved")
        clock.advance(1)
        assert await relayer.relay_once() == 1
        [row] = await app.outbox_pending()
        assert row.last_status_code == 503 and row.last_error == "E" * 2000
    finally:
        await relayer.stop()


async def test_one_failing_request_does_not_sink_the_batch(make_app: Any, catalog: Catalog) -> None:
    """An unexpected error in one row's request (not an httpx error) retries that row; the rest are sent."""
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock, count=3)
    rows = await app.outbox_pending()
    poisoned = rows[1].event.event_id

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["ce-id"] == poisoned:
            raise RuntimeError("proxy plugin crashed")
        return httpx.Response(202)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        relayer = OutboxRelayer(app.storage, clock, "http://127.0.0.1:9/", http_client=client)
        assert await relayer.relay_once() == 3
        await relayer.stop()
    assert len(await app.list_outbox(OutboxStatus.SENT)) == 2
    [pending] = await app.outbox_pending()
    assert pending.event.event_id == poisoned and pending.last_error == "RuntimeError: proxy plugin crashed"


async def test_stop_lets_the_delivery_in_flight_finish(
    make_app: Any, catalog: Catalog, receiver: Receiver
) -> None:
    """A graceful stop records the outcome of the round in flight instead of leaving its rows claimed
    (which would deliver them a second time after the visibility timeout)."""
    clock = FakeClock()
    app = await _app_with_events(make_app, catalog, clock)
    receiver.hold = asyncio.Event()
    relayer = OutboxRelayer(app.storage, clock, receiver.url)
    relayer.start()
    await asyncio.wait_for(receiver.received.wait(), 10)
    stopping = asyncio.create_task(relayer.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # waiting for the answer
    receiver.hold.set()
    await asyncio.wait_for(stopping, 10)
    [sent] = await app.list_outbox(OutboxStatus.SENT)
    assert sent.attempts == 1 and sent.claimed_by is None
    assert receiver.processed == {sent.event.event_id: 1} and len(receiver.requests) == 1
