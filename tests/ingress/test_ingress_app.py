"""End to end against a real ``EddaApp`` on every backend: events over HTTP wake waiting workflows; every
rejected request stores nothing (the ``edda_messages`` table stays empty and the instance keeps waiting).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from durable_core import (
    Catalog,
    EddaApp,
    InstanceStatus,
    OutboxRelayer,
    OutboxStatus,
    ReceivedEvent,
    WorkflowContext,
    activity,
    send_event_transactional,
    wait_event,
    workflow,
)
from durable_core.ingress import CloudEventsASGI
from durable_core.storage.schema import MESSAGES
from durable_core.storage.urls import normalize_url
from tests.ingress.test_events import ATTRS, binary, structured


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
async def app(db_url: str, catalog: Catalog) -> AsyncIterator[EddaApp]:
    @workflow(catalog=catalog)
    async def await_payment(ctx: WorkflowContext, order_id: str) -> dict[str, Any]:
        event: ReceivedEvent[Any] = await wait_event(ctx, "payment.completed", timeout_seconds=120)
        data = event.data.decode() if isinstance(event.data, bytes) else event.data
        return {
            "data": data,
            "id": event.metadata.id,
            "source": event.metadata.source,
            "subject": event.metadata.subject,
            "extensions": event.extensions,
        }

    @activity
    async def pay(ctx: WorkflowContext, order_instance: str) -> str:
        return await send_event_transactional(
            ctx,
            "payment.completed",
            "payments",
            {"paid": 99},
            subject="café/1",
            extensions={"eddainstanceid": order_instance, "attempt": 1},
        )

    @workflow(catalog=catalog)
    async def payer(ctx: WorkflowContext, order_instance: str) -> str:
        return await pay(ctx, order_instance)

    edda = EddaApp(db_url, "ingress-test", workflows=list(catalog), lease_ttl=5.0, poll_interval=0.2)
    await edda.initialize()
    try:
        yield edda
    finally:
        await edda.shutdown()


@pytest.fixture
async def client(app: EddaApp) -> AsyncIterator[httpx.AsyncClient]:
    ingress = CloudEventsASGI(app, max_body_bytes=4096)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ingress), base_url="http://edda.test"
    ) as http:
        yield http


@pytest.fixture
def stored_messages(db_url: str) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        engine = create_async_engine(normalize_url(db_url), poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(MESSAGES))).scalar_one())
        finally:
            await engine.dispose()

    return count


async def _waiting(app: EddaApp, instance_id: str) -> None:
    async with asyncio.timeout(20):
        while (await app.get_wait(instance_id)) is None:  # noqa: ASYNC110 - a database state, no event to await
            await asyncio.sleep(0.02)


async def test_an_addressed_binary_event_wakes_the_instance(app: EddaApp, client: httpx.AsyncClient) -> None:
    iid = await app.start("await_payment", {"order_id": "A-1"})
    headers, body = binary({"paid": 12.5}, eddainstanceid=iid, subject="orders/A-1", tenant="acme")
    response = await client.post("/payments", headers=headers, content=body)
    assert response.status_code == 202 and response.json() == {"status": "accepted", "event_id": "evt-1"}
    result = await app.wait_result(iid, timeout=30)
    assert result == {
        "data": {"paid": 12.5},
        "id": "evt-1",
        "source": "payments",
        "subject": "orders/A-1",
        "extensions": {"tenant": "acme"},
    }


async def test_a_structured_event_by_type_reaches_the_waiting_instance(
    app: EddaApp, client: httpx.AsyncClient
) -> None:
    iid = await app.start("await_payment", {"order_id": "B-2"})
    await _waiting(app, iid)
    headers, body = structured("paid in full", id="evt-2", datacontenttype="text/plain")
    assert (await client.post("/", headers=headers, content=body)).status_code == 202
    result = await app.wait_result(iid, timeout=30)
    assert result["data"] == "paid in full" and result["id"] == "evt-2"


async def test_rejected_requests_store_nothing(
    app: EddaApp, client: httpx.AsyncClient, stored_messages: Callable[[], Awaitable[int]]
) -> None:
    iid = await app.start("await_payment", {"order_id": "C-3"})
    await _waiting(app, iid)
    ce = "application/cloudevents+json"
    rejected: list[tuple[int, dict[str, str], bytes]] = [
        (400, {"content-type": ce}, b'{"specversion": "1.0", "id": '),  # malformed JSON
        (400, {"content-type": ce}, json.dumps({**ATTRS, "eddainstanceid": iid, "type": None}).encode()),
        (400, {"content-type": ce}, json.dumps({k: v for k, v in ATTRS.items() if k != "source"}).encode()),
        (400, {"content-type": "text/plain"}, b"payment.completed"),  # wrong content type
        (400, {"content-type": "application/cloudevents-batch+json"}, json.dumps([ATTRS]).encode()),
        (413, binary({"blob": "x" * 5000}, eddainstanceid=iid)[0], binary({"blob": "x" * 5000})[1]),
        (404, *binary({"paid": 1}, eddainstanceid="no-such-instance")),
    ]
    for status, headers, body in rejected:
        response = await client.post("/", headers=headers, content=body)
        assert response.status_code == status, (status, response.text)
        assert response.json()["retryable"] is False
    assert await stored_messages() == 0
    assert (await app.get_instance(iid)).status is InstanceStatus.WAITING
    # ...and the instance still takes the next valid event
    headers, body = binary({"paid": 3}, eddainstanceid=iid, id="evt-3")
    assert (await client.post("/", headers=headers, content=body)).status_code == 202
    assert (await app.wait_result(iid, timeout=30))["id"] == "evt-3"


async def test_cancel_over_http(app: EddaApp, client: httpx.AsyncClient) -> None:
    iid = await app.start("await_payment", {"order_id": "D-4"})
    await _waiting(app, iid)
    response = await client.post(f"/cancel/{iid}", json={"reason": "order withdrawn"})
    assert response.status_code == 200 and response.json() == {"instance_id": iid, "outcome": "requested"}
    async with asyncio.timeout(20):
        while (record := await app.get_instance(iid)).status is not InstanceStatus.CANCELLED:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert record.cancelled_by == "http"
    again = await client.post(f"/cancel/{iid}")
    assert again.status_code == 200 and again.json()["outcome"] == "already-finished"
    assert (await client.post("/cancel/no-such-instance")).status_code == 404


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_an_outbox_event_relayed_to_the_ingress_wakes_a_workflow(app: EddaApp, mode: str) -> None:
    """The relayer and the ingress speak the same binding: an event one workflow publishes with
    ``send_event_transactional`` (addressed with ``eddainstanceid``) wakes another through HTTP."""

    waiting = await app.start("await_payment", {"order_id": "E-5"})
    event_id = await app.wait_result(await app.start("payer", {"order_instance": waiting}), timeout=30)
    ingress = CloudEventsASGI(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ingress)) as http:
        relayer = OutboxRelayer(
            app.storage, app.clock, "http://edda.test/events", mode=mode, http_client=http
        )
        assert await relayer.relay_once() == 1
        await relayer.stop()
    [sent] = await app.list_outbox(OutboxStatus.SENT)
    assert sent.last_status_code == 202
    result = await app.wait_result(waiting, timeout=30)
    assert result == {
        "data": {"paid": 99},
        "id": event_id,
        "source": "payments",
        "subject": "café/1",
        "extensions": {"attempt": "1"},
    }


async def test_poison_requests_are_client_errors_that_store_nothing(
    app: EddaApp, client: httpx.AsyncClient, stored_messages: Callable[[], Awaitable[int]]
) -> None:
    iid = await app.start("await_payment", {"order_id": "E-5"})
    await _waiting(app, iid)
    ce = "application/cloudevents+json"
    deep = "[" * 1800 + "]" * 1800  # RecursionError in json.loads (and within the body limit)
    nested = "[" * 40 + "]" * 40  # parses, but deeper than any database stores alike
    rejected: list[tuple[dict[str, str], bytes, str]] = [
        (
            {"content-type": ce},
            f'{{"specversion":"1.0","id":"x","source":"s","type":"t","data":{deep}}}'.encode(),
            "InvalidCloudEventError",
        ),
        ({"content-type": "application/json", **binary()[0]}, deep.encode(), "InvalidCloudEventError"),
        (
            {"content-type": ce},
            json.dumps({**ATTRS, "eddainstanceid": iid, "data": json.loads(nested)}).encode(),
            "InputValidationError",
        ),
        (
            {"content-type": ce},
            json.dumps({**ATTRS, "eddainstanceid": iid, "type": "pay\x00"}).encode(),
            "InputValidationError",
        ),
        (
            {"content-type": ce},
            json.dumps({**ATTRS, "eddainstanceid": iid, "source": "s\ud800"}).encode(),
            "InputValidationError",
        ),
        (
            {"content-type": ce},
            json.dumps({**ATTRS, "eddainstanceid": iid, "data": {"note": "a\x00b"}}).encode(),
            "InputValidationError",
        ),
        ({"content-type": ce}, json.dumps({**ATTRS, "type": "t" * 250}).encode(), "InputValidationError"),
        (
            {"content-type": ce},
            json.dumps({**ATTRS, "eddainstanceid": iid + " "}).encode(),
            "InputValidationError",
        ),
    ]
    for headers, body, error_type in rejected:
        response = await client.post("/", headers=headers, content=body)
        assert response.status_code == 400, response.text
        assert response.json()["retryable"] is False and response.json()["error_type"] == error_type, (
            response.text
        )
    for path in ("/cancel/%00", "/cancel/%ED%A0%80", f"/cancel/{iid}%20"):
        response = await client.post(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["retryable"] is False
    response = await client.post(f"/cancel/{iid}", json={"reason": "bad\x00reason"})
    assert response.status_code == 400 and response.json()["retryable"] is False, response.text
    assert await stored_messages() == 0
    record = await app.get_instance(iid)
    assert record.status is InstanceStatus.WAITING and not record.cancel_requested
