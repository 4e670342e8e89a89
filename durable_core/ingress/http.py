"""Minimal ASGI HTTP plumbing for the ingress: reading a bounded body, JSON answers, mount-aware paths."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from durable_core.ingress.errors import BadRequestError, PayloadTooLargeError

__all__ = [
    "ClientDisconnectedError",
    "Receive",
    "Scope",
    "Send",
    "header_map",
    "read_body",
    "route_path",
    "send_json",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_CONTENT_TYPE: Final = b"application/json"


class ClientDisconnectedError(Exception):
    """The client went away before the request body was read; nothing is answered."""


def header_pairs(scope: Scope) -> tuple[tuple[str, str], ...]:
    """The request headers as ``(lower-case name, value)`` strings (ASGI gives latin-1 bytes)."""
    return tuple(
        (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1")) for k, v in scope["headers"]
    )


def header_map(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Headers by name; a repeated header's values are joined with ``", "``."""
    merged: dict[str, str] = {}
    for name, value in pairs:
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def route_path(scope: Scope) -> str:
    """The request path below the mount point.

    Servers and routers differ in whether ``path`` already contains ``root_path`` (uvicorn, Starlette's
    ``Mount`` and a2wsgi include it; older ones do not); both are handled.
    """
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :] or "/"
    return path


def declared_length(headers: dict[str, str], limit: int) -> int | None:
    """``Content-Length`` as an int (None when absent).

    Raises:
        BadRequestError: not a non-negative integer.
        PayloadTooLargeError: above ``limit``.
    """
    raw = headers.get("content-length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise BadRequestError(f"invalid Content-Length header {raw!r}")
    length = int(raw)
    if length > limit:
        raise PayloadTooLargeError(f"request body of {length} bytes exceeds the limit of {limit} bytes")
    return length


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read the whole request body, failing as soon as more than ``limit`` bytes arrived.

    Raises:
        PayloadTooLargeError: the body is larger than ``limit`` bytes.
        ClientDisconnectedError: the client disconnected first.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_json(
    send: Send, status: int, payload: Any, extra_headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """Answer with ``payload`` as a JSON document."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = [
        (b"content-type", JSON_CONTENT_TYPE),
        (b"content-length", str(len(body)).encode("ascii")),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
