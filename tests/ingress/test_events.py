"""POSTing CloudEvents: binary and structured mode accepted, every kind of invalid input refused with 400/413.

The requests of the valid cases are built with the ``cloudevents`` SDK, as a real sender would. Every
refused request must leave the sink untouched and answer a JSON body with ``error``, ``error_type`` and
``retryable``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from durable_core import StorageUnavailableError
from durable_core.ingress import CloudEventsASGI
from tests.ingress.fakes import FakeSink

ATTRS = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "payments",
    "type": "payment.completed",
}


def binary(data: Any = None, **attrs: Any) -> tuple[dict[str, str], bytes]:
    headers, body = to_binary(CloudEvent({**ATTRS, **attrs}, data))
    return dict(headers), body


def structured(data: Any = None, **attrs: Any) -> tuple[dict[str, str], bytes]:
    headers, body = to_structured(CloudEvent({**ATTRS, **attrs}, data))
    return dict(headers), body


def assert_error(response: httpx.Response, status: int, error_type: str, retryable: bool, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "error_type", "retryable"}, body
    assert body["error_type"] == error_type and body["retryable"] is retryable, body
    assert text in body["error"], body


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("make", [binary, structured], ids=["binary", "structured"])
async def test_a_json_event_is_accepted_with_all_its_attributes(
    client: httpx.AsyncClient, sink: FakeSink, make: Any
) -> None:
    headers, body = make(
        {"order_id": "A-1", "amount": 12.5},
        subject="orders/A-1",
        eddainstanceid="order-1",
        tenant="acme",
        datacontenttype="application/json",
    )
    response = await client.post("/any/path/at/all", headers=headers, content=body)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "event_id": "evt-1"}
    [event] = sink.events
    assert event.event_type == "payment.completed" and event.source == "payments"
    assert event.event_id == "evt-1" and event.subject == "orders/A-1"
    assert event.data == {"order_id": "A-1", "amount": 12.5}
    assert event.instance_id == "order-1"  # the eddainstanceid extension, not passed on as an extension
    assert event.extensions == {"tenant": "acme"}
    assert event.data_content_type == "application/json"


@pytest.mark.parametrize("make", [binary, structured], ids=["binary", "structured"])
async def test_bytes_data_arrive_as_bytes(client: httpx.AsyncClient, sink: FakeSink, make: Any) -> None:
    headers, body = make(b"%PDF\x00\xff", datacontenttype="application/pdf")
    if make is structured:
        assert base64.b64decode(json.loads(body)["data_base64"]) == b"%PDF\x00\xff"
    response = await client.post("/", headers=headers, content=body)
    assert response.status_code == 202, response.text
    [event] = sink.events
    assert event.data == b"%PDF\x00\xff" and event.data_content_type == "application/pdf"
    assert event.instance_id is None and event.extensions is None


async def test_text_data_are_the_same_bytes_in_both_modes(client: httpx.AsyncClient, sink: FakeSink) -> None:
    bin_headers = {**{f"ce-{k}": v for k, v in ATTRS.items()}, "content-type": "text/plain; charset=utf-8"}
    doc = {**ATTRS, "datacontenttype": "text/plain", "data": "héllo"}
    r1 = await client.post("/", headers=bin_headers, content="héllo".encode())
    r2 = await client.post(
        "/", headers={"content-type": "application/cloudevents+json"}, content=json.dumps(doc).encode()
    )
    assert (r1.status_code, r2.status_code) == (202, 202)
    assert [e.data for e in sink.events] == ["héllo".encode(), "héllo".encode()]


async def test_structured_mode_extension_values_become_strings(
    client: httpx.AsyncClient, sink: FakeSink
) -> None:
    doc = {**ATTRS, "priority": 3, "urgent": True, "region": "eu", "data": None}
    response = await client.post(
        "/", headers={"content-type": "application/cloudevents+json; charset=utf-8"}, content=json.dumps(doc)
    )
    assert response.status_code == 202, response.text
    [event] = sink.events
    assert event.extensions == {"priority": "3", "urgent": "true", "region": "eu"} and event.data is None


async def test_binary_header_values_are_percent_decoded(client: httpx.AsyncClient, sink: FakeSink) -> None:
    headers = {f"ce-{k}": v for k, v in ATTRS.items()}
    headers["ce-subject"] = "caf%C3%A9 %22menu%22"
    response = await client.post("/", headers=headers)
    assert response.status_code == 202, response.text
    assert sink.events[0].subject == 'café "menu"' and sink.events[0].data is None


async def test_202_is_sent_only_after_the_sink_returned(client: httpx.AsyncClient, sink: FakeSink) -> None:
    sink.entered, sink.release = asyncio.Event(), asyncio.Event()
    headers, body = binary({"n": 1})
    request = asyncio.create_task(client.post("/", headers=headers, content=body))
    await asyncio.wait_for(sink.entered.wait(), 5)
    await asyncio.sleep(0)
    assert not request.done() and sink.events == []  # the sink has not committed: no answer yet
    sink.release.set()
    response = await asyncio.wait_for(request, 5)
    assert response.status_code == 202 and len(sink.events) == 1


# --------------------------------------------------------------------------- refused: 400


@pytest.mark.parametrize(
    ("headers", "body", "text"),
    [
        pytest.param(
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "x",',
            "not valid JSON",
            id="structured-truncated",
        ),
        pytest.param(
            {"content-type": "application/cloudevents+json"},
            b"\xff\xfe",
            "not valid JSON",
            id="structured-binary",
        ),
        pytest.param(
            {"content-type": "application/cloudevents+json"},
            b"[1, 2]",
            "must be a JSON object",
            id="structured-array",
        ),
        pytest.param(
            {**{f"ce-{k}": v for k, v in ATTRS.items()}, "content-type": "application/json"},
            b'{"order": ',
            "the body is not valid JSON",
            id="binary-json-data",
        ),
    ],
)
async def test_malformed_json_is_400(
    client: httpx.AsyncClient, sink: FakeSink, headers: dict[str, str], body: bytes, text: str
) -> None:
    response = await client.post("/", headers=headers, content=body)
    assert_error(response, 400, "InvalidCloudEventError", False, text)
    assert sink.events == []


@pytest.mark.parametrize("missing", ["id", "source", "type", "specversion"])
async def test_missing_required_attributes_are_400_in_structured_mode(
    client: httpx.AsyncClient, sink: FakeSink, missing: str
) -> None:
    doc = {k: v for k, v in ATTRS.items() if k != missing}
    response = await client.post(
        "/", headers={"content-type": "application/cloudevents+json"}, content=json.dumps(doc)
    )
    assert_error(response, 400, "InvalidCloudEventError", False, missing)
    assert sink.events == []


@pytest.mark.parametrize("missing", ["id", "source", "type"])
async def test_missing_required_headers_are_400_in_binary_mode(
    client: httpx.AsyncClient, sink: FakeSink, missing: str
) -> None:
    headers = {f"ce-{k}": v for k, v in ATTRS.items() if k != missing}
    response = await client.post("/", headers={**headers, "content-type": "application/json"}, content=b"{}")
    assert_error(response, 400, "InvalidCloudEventError", False, f"ce-{missing}")
    assert sink.events == []


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"specversion": "0.3"}, "unsupported specversion"),
        ({"specversion": "2.0"}, "specversion"),
        ({"id": ""}, "'id' must be a non-empty string"),
        ({"type": 42}, "'type' must be a non-empty string"),
        ({"source": None}, "source"),
        ({"type": "t" * 256}, "longer than 255"),
        ({"time": "yesterday"}, "RFC 3339"),
        ({"Tenant": "acme"}, "invalid CloudEvents extension name 'Tenant'"),
        ({"my_ext": "x"}, "invalid CloudEvents extension name"),
        ({"nested": {"a": 1}}, "must be a string, integer or boolean"),
        ({"eddainstanceid": ""}, "eddainstanceid"),
        ({"data": 1, "data_base64": "AA=="}, "not both"),
        ({"data_base64": "not base64!"}, "not valid base64"),
    ],
)
async def test_invalid_attributes_are_400(
    client: httpx.AsyncClient, sink: FakeSink, change: dict[str, Any], text: str
) -> None:
    doc = {**ATTRS, **change}
    response = await client.post(
        "/", headers={"content-type": "application/cloudevents+json"}, content=json.dumps(doc)
    )
    assert_error(response, 400, "InvalidCloudEventError", False, text)
    assert sink.events == []


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        ("application/json", json.dumps(ATTRS), "not a CloudEvent"),  # a structured doc, wrong media type
        ("text/plain", "hello", "not a CloudEvent"),
        (None, "", "(none)"),
        ("application/cloudevents+xml", "<event/>", "unsupported structured format"),
        ("application/cloudevents-batch+json", json.dumps([ATTRS]), "batch mode"),
    ],
)
async def test_wrong_content_types_are_400(
    client: httpx.AsyncClient, sink: FakeSink, content_type: str | None, body: str, text: str
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = await client.post("/", headers=headers, content=body.encode())
    assert_error(response, 400, "InvalidCloudEventError", False, text)
    assert sink.events == []


async def test_an_event_the_sink_refuses_is_400(client: httpx.AsyncClient, sink: FakeSink) -> None:
    sink.fail = ValueError("event_type must be at most 200 characters")
    headers, body = binary({"n": 1})
    response = await client.post("/", headers=headers, content=body)
    assert_error(response, 400, "ValueError", False, "at most 200 characters")


# --------------------------------------------------------------------------- refused: 404, 413


async def test_an_unknown_instance_id_is_404(client: httpx.AsyncClient, sink: FakeSink) -> None:
    headers, body = binary({"n": 1}, eddainstanceid="no-such-order")
    response = await client.post("/", headers=headers, content=body)
    assert_error(response, 404, "InstanceNotFoundError", False, "no-such-order")
    assert sink.events == []


async def test_a_declared_oversized_body_is_413_before_it_is_read(
    client: httpx.AsyncClient, sink: FakeSink
) -> None:
    headers, body = binary({"blob": "x" * 5000})
    assert len(body) > 4096
    response = await client.post("/", headers=headers, content=body)
    assert_error(response, 413, "PayloadTooLargeError", False, "exceeds the limit of 4096 bytes")
    assert sink.events == []


async def test_a_streamed_oversized_body_is_413(client: httpx.AsyncClient, sink: FakeSink) -> None:
    """No Content-Length (chunked upload): the bytes are counted as they arrive."""
    chunks_sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield b'{"specversion": "1.0", "id": "big", "source": "s", "type": "t", "data": "'
        for _ in range(100):
            chunks_sent += 1
            yield b"x" * 1000
        yield b'"}'

    response = await client.post(
        "/", headers={"content-type": "application/cloudevents+json"}, content=chunks()
    )
    assert_error(response, 413, "PayloadTooLargeError", False, "exceeds the limit of 4096 bytes")
    assert chunks_sent < 10  # refused as soon as the limit was passed, not after reading everything
    assert sink.events == []


async def test_a_body_just_under_the_limit_is_accepted(client: httpx.AsyncClient, sink: FakeSink) -> None:
    headers, body = binary({"blob": "x" * 3900})
    assert len(body) <= 4096
    assert (await client.post("/", headers=headers, content=body)).status_code == 202


async def test_a_bad_content_length_is_400(ingress: CloudEventsASGI, sink: FakeSink) -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", b"application/cloudevents+json"), (b"content-length", b"-5")],
    }
    await ingress(scope, receive, send)
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"] == "invalid Content-Length header '-5'"
    assert sink.events == []


# --------------------------------------------------------------------------- 500


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (RuntimeError("db password is hunter2"), "InternalError"),
        (StorageUnavailableError("down"), "StorageUnavailableError"),
    ],
)
async def test_internal_errors_are_500_retryable_and_logged(
    client: httpx.AsyncClient,
    sink: FakeSink,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    error_type: str,
) -> None:
    sink.fail = error
    headers, body = binary({"n": 1})
    with caplog.at_level("ERROR", logger="durable_core.ingress"):
        response = await client.post("/orders", headers=headers, content=body)
    assert_error(response, 500, error_type, True, "internal error")
    assert "hunter2" not in response.text  # internals are logged, not sent
    assert any(record.exc_info and record.exc_info[1] is error for record in caplog.records)
