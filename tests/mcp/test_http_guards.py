"""Units of the HTTP guards: which JSON-RPC ids are invalid, which Accept headers get SSE, allow-lists."""

from __future__ import annotations

import re
from typing import Any

import pytest

from edda_mcp.errors import HttpConfigError
from edda_mcp.http import HttpOptions, is_loopback, transport_security
from edda_mcp.http_guards import accepts_event_stream, invalid_id


@pytest.mark.parametrize("value", ["abc", "", 0, 7, -3, 3.0])
def test_string_and_integer_ids_are_valid(value: Any) -> None:
    assert invalid_id({"jsonrpc": "2.0", "id": value, "method": "ping"}) is None


@pytest.mark.parametrize(
    ("value", "named"),
    [(None, "null"), ({}, "an object"), ([], "an array"), (1.5, "a fractional number"), (True, "a boolean")],
)
def test_other_ids_are_named_in_the_error(value: Any, named: str) -> None:
    reason = invalid_id({"jsonrpc": "2.0", "id": value, "method": "ping"})
    assert reason is not None and reason.endswith(f"not {named}")


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},  # a notification has no id member
        {"jsonrpc": "2.0", "id": None, "result": {}},  # a response: the SDK's to judge
        [{"jsonrpc": "2.0", "id": None, "method": "ping"}],  # a batch: the SDK refuses it
        "not an object",
    ],
)
def test_only_requests_with_an_id_member_are_checked(message: Any) -> None:
    assert invalid_id(message) is None


@pytest.mark.parametrize(
    ("accept", "sse"),
    [
        ("application/json, text/event-stream", True),
        ("text/event-stream;q=0.9, application/json", True),
        ("*/*", True),
        ("text/*", True),
        ("application/json", False),
        ("", False),
    ],
)
def test_sse_goes_to_clients_whose_accept_admits_it(accept: str, sse: bool) -> None:
    scope = {"type": "http", "headers": [(b"accept", accept.encode())]}
    assert accepts_event_stream(scope) is sse


def test_checks_stay_on_for_every_bind_and_add_the_public_url() -> None:
    settings = transport_security(HttpOptions(host="0.0.0.0", public_url="https://mcp.example.com:8443/mcp"))
    assert settings.enable_dns_rebinding_protection
    assert "mcp.example.com:8443" in settings.allowed_hosts and "127.0.0.1:*" in settings.allowed_hosts
    assert "https://mcp.example.com:8443" in settings.allowed_origins


def test_loopback_binds() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "::1"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "mcp.example.com"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"public_url": "mcp.example.com/mcp"}, "absolute http(s) URL"),
        ({"public_url": "ftp://mcp.example.com"}, "absolute http(s) URL"),
        ({"max_request_body_size": 0}, "positive number of bytes"),
    ],
)
def test_bad_http_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(HttpConfigError, match=re.escape(message)):
        HttpOptions(**options)
