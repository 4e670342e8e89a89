"""ASGI pieces in front of the SDK's streamable-HTTP handlers: JSON-RPC id check and per-request response mode.

The SDK's handshake-era transport reads a request whose ``id`` is not a string or an integer (``null``,
an object, an array, ``1.5``) as a notification and answers 202 with no body; JSON-RPC 2.0 owes such a
request an *Invalid Request* error. :class:`RequestIdGuard` answers it with HTTP 400 and that error before
the SDK sees it. :class:`AcceptRouter` sends each request to the SSE or the JSON flavour of the endpoint,
so clients that accept ``text/event-stream`` get progress notifications and the others still get JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

INVALID_REQUEST = -32600
"""JSON-RPC 2.0: the JSON sent is not a valid Request object."""


def invalid_id(message: object) -> str | None:
    """Why ``message`` (one decoded JSON-RPC message) has an id no request may carry, or None.

    Only requests (objects with a ``method``) that carry an ``id`` member are checked: a notification
    has no ``id`` member at all, and responses posted by a client are the SDK's to judge.
    """
    if not isinstance(message, dict) or "method" not in message or "id" not in message:
        return None
    value = message["id"]
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return None  # 3.0 is the integer 3 written with a fraction part
    kind = "null" if value is None else type(value).__name__
    kind = {"dict": "an object", "list": "an array", "float": "a fractional number", "bool": "a boolean"}.get(
        kind, kind
    )
    return f"Invalid Request: id must be a string or an integer, not {kind}"


def jsonrpc_error(code: int, message: str, status: int) -> Response:
    """A JSON-RPC error response without a request id (``"id": null``, as the spec prescribes)."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


class RequestIdGuard:
    """Answer POSTed requests with an invalid ``id`` with HTTP 400 and a JSON-RPC Invalid Request error.

    The body is read here (at most ``max_body_size`` bytes; larger bodies get 413, as the SDK does) and
    replayed to ``app`` unchanged, so everything else is still the SDK's to answer.
    """

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check a POSTed request's id, then hand the request to the wrapped app."""
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = await self._read_body(scope, receive, send)
        if body is None:
            return
        reason = _invalid_id_of(body)
        if reason is not None:
            await jsonrpc_error(INVALID_REQUEST, reason, 400)(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None after answering 413 for a body above the limit."""
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
            await Response("Request body too large", status_code=413)(scope, receive, send)
            return None
        chunks = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the SDK answers an empty body
            chunks.extend(message.get("body", b""))
            if len(chunks) > self.max_body_size:
                await Response("Request body too large", status_code=413)(scope, receive, send)
                return None
            if not message.get("more_body", False):
                break
        return bytes(chunks)


def _invalid_id_of(body: bytes) -> str | None:
    try:
        decoded: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None  # a parse error: the SDK answers it
    return invalid_id(decoded)


def accepts_event_stream(scope: Scope) -> bool:
    """Whether the request's ``Accept`` header admits ``text/event-stream`` (wildcards included)."""
    accept = Headers(scope=scope).get("accept", "")
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(types & {"text/event-stream", "text/*", "*/*"})


class AcceptRouter:
    """Serve clients that accept SSE from ``sse_app`` and the others from ``json_app``.

    Over SSE a tool call can stream ``notifications/progress`` (and, on 2026-07-28, the keep-alive pings)
    before its result; a client that accepts only ``application/json`` gets the result alone.
    """

    def __init__(self, sse_app: ASGIApp, json_app: ASGIApp) -> None:
        self.sse_app = sse_app
        self.json_app = json_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route by the request's ``Accept`` header."""
        if scope["type"] == "http" and scope.get("method") == "POST" and not accepts_event_stream(scope):
            await self.json_app(scope, receive, send)
            return
        await self.sse_app(scope, receive, send)
