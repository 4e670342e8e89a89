"""Cancel endpoint, the authorization hook, methods, lifespan, and mounting below a path."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from durable_core import CancelOutcome
from durable_core.ingress import CloudEventsASGI, IngressAction, RequestInfo
from tests.ingress.fakes import FakeLifespan, FakeSink
from tests.ingress.test_events import ATTRS, assert_error, binary

BINARY_HEADERS = {f"ce-{k}": v for k, v in ATTRS.items()}


def client_for(app: Any, **transport: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **transport), base_url="http://ingress.test"
    )


# --------------------------------------------------------------------------- cancel


async def test_cancel_answers_the_outcome(client: httpx.AsyncClient, sink: FakeSink) -> None:
    response = await client.post("/cancel/order-1")
    assert response.status_code == 200, response.text
    assert response.json() == {"instance_id": "order-1", "outcome": "requested"}
    sink.outcome = CancelOutcome.ALREADY_FINISHED
    response = await client.post("/cancel/order-1", json={"reason": "customer changed their mind"})
    assert response.json() == {"instance_id": "order-1", "outcome": "already-finished"}
    assert sink.cancels == [("order-1", "", "http"), ("order-1", "customer changed their mind", "http")]
    assert sink.events == []  # a cancel is not an event


async def test_cancel_of_an_unknown_instance_is_404(client: httpx.AsyncClient, sink: FakeSink) -> None:
    assert_error(await client.post("/cancel/nope"), 404, "InstanceNotFoundError", False, "'nope'")
    sink.instances.add("nope")
    sink.outcome = CancelOutcome.NOT_FOUND  # a sink may also answer NOT_FOUND instead of raising
    assert_error(await client.post("/cancel/nope"), 404, "InstanceNotFoundError", False, "'nope'")


@pytest.mark.parametrize("body", [b"not json", b'["reason"]', b'{"reason": 5}'])
async def test_cancel_with_a_bad_body_is_400(client: httpx.AsyncClient, sink: FakeSink, body: bytes) -> None:
    assert_error(await client.post("/cancel/order-1", content=body), 400, "BadRequestError", False, "reason")
    assert sink.cancels == []


async def test_cancel_without_an_id_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/cancel/"), 400, "BadRequestError", False, "instance id is missing")


async def test_an_instance_id_with_a_slash_is_kept_whole(client: httpx.AsyncClient, sink: FakeSink) -> None:
    sink.instances.add("tenant/a b")
    assert (await client.post("/cancel/tenant/a%20b")).status_code == 200
    assert sink.cancels == [("tenant/a b", "", "http")]


# --------------------------------------------------------------------------- methods


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD", "OPTIONS"])
async def test_only_post_is_allowed(client: httpx.AsyncClient, sink: FakeSink, method: str) -> None:
    response = await client.request(method, "/cancel/order-1")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    if method != "HEAD":
        assert_error(response, 405, "MethodNotAllowedError", False, method)
    assert sink.cancels == [] and sink.events == []


# --------------------------------------------------------------------------- authorization


async def test_the_auth_hook_guards_events_and_cancels(sink: FakeSink) -> None:
    seen: list[RequestInfo] = []

    async def authorize(request: RequestInfo) -> bool:
        seen.append(request)
        return request.header("Authorization") == "Bearer good"

    app = CloudEventsASGI(sink, authorize=authorize)
    headers, body = binary({"n": 1})
    async with client_for(app) as client:
        assert_error(
            await client.post("/e", headers=headers, content=body), 401, "NotAuthenticatedError", False, ""
        )
        bad = {**headers, "authorization": "Bearer bad"}
        assert_error(await client.post("/e", headers=bad, content=body), 403, "ForbiddenError", False, "")
        assert_error(
            await client.post("/cancel/order-1", headers={"authorization": "Bearer bad"}),
            403,
            "ForbiddenError",
            False,
            "",
        )
        assert sink.events == [] and sink.cancels == []
        good = {**headers, "authorization": "Bearer good"}
        assert (await client.post("/e", headers=good, content=body)).status_code == 202
        response = await client.post("/cancel/order-1", headers={"authorization": "Bearer good"})
        assert response.status_code == 200
    assert len(sink.events) == 1 and len(sink.cancels) == 1
    assert [(r.action, r.path, r.instance_id) for r in seen] == [
        (IngressAction.EVENT, "/e", None),
        (IngressAction.EVENT, "/e", None),
        (IngressAction.CANCEL, "/cancel/order-1", "order-1"),
        (IngressAction.EVENT, "/e", None),
        (IngressAction.CANCEL, "/cancel/order-1", "order-1"),
    ]
    assert seen[0].method == "POST" and seen[0].header("ce-type") == "payment.completed"


async def test_the_401_answer_names_the_scheme(sink: FakeSink) -> None:
    async def deny(request: RequestInfo) -> bool:
        return False

    async with client_for(CloudEventsASGI(sink, authorize=deny)) as client:
        response = await client.post("/cancel/order-1")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


async def test_a_failing_auth_hook_is_500_and_lets_nothing_through(sink: FakeSink) -> None:
    async def broken(request: RequestInfo) -> bool:
        raise RuntimeError("token service down")

    headers, body = binary({"n": 1})
    async with client_for(CloudEventsASGI(sink, authorize=broken)) as client:
        response = await client.post("/", headers=headers, content=body)
    assert_error(response, 500, "InternalError", True, "internal error")
    assert sink.events == []


# --------------------------------------------------------------------------- lifespan


async def _lifespan(app: CloudEventsASGI, *messages: str) -> list[MutableMapping[str, Any]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in messages:
        inbox.put_nowait({"type": message})
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app({"type": "lifespan"}, inbox.get, send), 5)
    return sent


async def test_lifespan_starts_and_stops_the_handler(sink: FakeSink) -> None:
    handler = FakeLifespan()
    app = CloudEventsASGI(sink, lifespan=handler)
    sent = await _lifespan(app, "lifespan.startup", "lifespan.shutdown")
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert handler.calls == ["initialize", "shutdown"]


async def test_a_failed_startup_is_reported_to_the_server(sink: FakeSink) -> None:
    handler = FakeLifespan(fail_start=ConnectionRefusedError("database down"))
    sent = await _lifespan(CloudEventsASGI(sink, lifespan=handler), "lifespan.startup")
    assert sent == [{"type": "lifespan.startup.failed", "message": "ConnectionRefusedError: database down"}]


async def test_without_lifespan_events_the_handler_starts_before_the_first_request(sink: FakeSink) -> None:
    handler = FakeLifespan()
    app = CloudEventsASGI(sink, lifespan=handler)
    headers, body = binary({"n": 1})
    async with client_for(app) as client:
        responses = await asyncio.gather(*(client.post("/", headers=headers, content=body) for _ in range(5)))
        assert [r.status_code for r in responses] == [202] * 5
        assert handler.calls == ["initialize"]  # once, though five requests raced for it
        await _lifespan(app, "lifespan.shutdown")
        assert handler.calls == ["initialize", "shutdown"]
        response = await client.post("/", headers=headers, content=body)
    assert_error(response, 503, "ServiceUnavailableError", True, "shutting down")
    assert len(sink.events) == 5


async def test_a_failing_lazy_start_is_500_retryable(sink: FakeSink) -> None:
    handler = FakeLifespan(fail_start=ConnectionRefusedError("database down"))
    async with client_for(CloudEventsASGI(sink, lifespan=handler)) as client:
        response = await client.post("/cancel/order-1")
    assert_error(response, 500, "InternalError", True, "")
    assert sink.cancels == []


# --------------------------------------------------------------------------- mounting


async def test_mounted_under_starlette(ingress: CloudEventsASGI, sink: FakeSink) -> None:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    outer = Starlette(routes=[Route("/", home), Mount("/workflows", app=ingress)])
    headers, body = binary({"n": 1})
    async with client_for(outer) as client:
        assert (await client.get("/")).text == "home"
        assert (await client.post("/workflows/orders/paid", headers=headers, content=body)).status_code == 202
        response = await client.post("/workflows/cancel/order-1")
        assert response.status_code == 200 and response.json()["instance_id"] == "order-1"
        assert_error(
            await client.post("/workflows/cancel/other"), 404, "InstanceNotFoundError", False, "other"
        )
    assert len(sink.events) == 1 and sink.cancels == [("order-1", "", "http")]


async def test_behind_a_root_path(ingress: CloudEventsASGI, sink: FakeSink) -> None:
    """A server's --root-path: the cancel route is matched below it (path with or without the prefix)."""
    async with client_for(ingress, root_path="/api") as client:
        assert (await client.post("/api/cancel/order-1")).status_code == 200
        assert (await client.post("/cancel/order-1")).status_code == 200
    assert [c[0] for c in sink.cancels] == ["order-1", "order-1"]


def test_max_body_bytes_must_be_positive(sink: FakeSink) -> None:
    with pytest.raises(ValueError, match="max_body_bytes must be a positive int"):
        CloudEventsASGI(sink, max_body_bytes=0)
