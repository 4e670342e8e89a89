"""Serving over stdio: stdout carries only protocol messages; logs and stray prints go to stderr.

The SDK's stdio transport drops a line it cannot decode without answering, and decodes a request whose
``id`` is not a string or integer as a notification (so nothing answers it either). Here each line is
screened first, as JSON-RPC 2.0 prescribes: a line that is not JSON gets a Parse error (-32700) and a
JSON value that is not a valid request an Invalid Request (-32600), with ``"id": null`` when the id
cannot be determined, and the server keeps serving. Valid lines go to the SDK unchanged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from io import TextIOWrapper
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    RequestId,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError

logger = logging.getLogger("edda_mcp")


def logs_to_stderr(level: int = logging.INFO) -> None:
    """Send log records to stderr (never stdout, which is the protocol channel)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is sys.stdout:
            root.removeHandler(handler)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def run_stdio(mcp: MCPServer[Any]) -> None:
    """Run ``mcp`` on stdin/stdout until stdin closes.

    While it serves, file descriptor 1 points at stderr and 0 at the null device (the protocol uses
    private duplicates), so ``print()`` or ``input()`` in tools, activities or child processes cannot
    corrupt or steal the stream.
    """
    logs_to_stderr()
    sys.stdout.flush()
    anyio.run(serve_stdio, mcp)


async def serve_stdio(mcp: MCPServer[Any]) -> None:
    """Serve ``mcp`` over this process's stdin/stdout (in a running event loop)."""
    # The SDK's MCPServer.run_stdio_async has no hook for lines it cannot decode, so the low-level
    # server is driven here with screened input (the same call run_stdio_async makes).
    lowlevel = mcp._lowlevel_server
    with _private_stdin() as wire_in:
        async with stdio_server(stdin=_NoInput()) as (unused, write_stream):  # type: ignore[arg-type]
            await unused.aclose()
            send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            async with receive, anyio.create_task_group() as tg:
                tg.start_soon(_read_wire, wire_in, send, write_stream)
                await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
                tg.cancel_scope.cancel()


class _NoInput:
    """An empty stdin for the SDK transport (the lines are read and screened by :func:`_read_wire`)."""

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        return
        yield  # pragma: no cover - makes this an async generator


@contextmanager
def _private_stdin() -> Iterator[TextIOWrapper]:
    """Read the protocol from a private duplicate of fd 0 while fd 0 itself reads the null device."""
    try:
        private = os.dup(0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:  # no descriptors to juggle (embedded interpreter): read fd 0 in place
        yield TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        return
    wire = TextIOWrapper(os.fdopen(private, "rb", closefd=False), encoding="utf-8", errors="replace")
    try:
        yield wire
    finally:
        os.dup2(private, 0)


async def _read_wire(
    wire: TextIOWrapper,
    to_server: MemoryObjectSendStream[SessionMessage | Exception],
    to_client: Any,
) -> None:
    async with to_server:
        async for line in anyio.wrap_file(wire):
            verdict = screen_line(line)
            if isinstance(verdict, SessionMessage):
                await to_server.send(verdict)
            elif verdict is not None:
                await to_client.send(SessionMessage(verdict))


def screen_line(line: str) -> SessionMessage | JSONRPCError | None:
    """What one stdio line is: a message for the server, an error to answer at once, or nothing.

    Blank lines and malformed responses (a server never answers a response) are dropped.
    """
    text = line.strip()
    if not text:
        return None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        logger.info("stdio: answered a line that is not JSON with a Parse error")
        return _rejection(None, PARSE_ERROR, f"Parse error: {exc}")
    problem, request_id = _request_problem(raw)
    if problem is not None:
        logger.info("stdio: answered an invalid JSON-RPC message: %s", problem)
        return _rejection(request_id, INVALID_REQUEST, f"Invalid Request: {problem}")
    try:
        return SessionMessage(jsonrpc_message_adapter.validate_json(text, by_name=False))
    except ValidationError as exc:
        if isinstance(raw, dict) and "method" in raw and "id" in raw:
            fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) or "(message)" for e in exc.errors())
            return _rejection(request_id, INVALID_REQUEST, f"Invalid Request: invalid {fields}")
        logger.info("stdio: dropped a malformed response or notification")
        return None


def _request_problem(raw: object) -> tuple[str | None, RequestId | None]:
    """Why ``raw`` is not a valid JSON-RPC 2.0 message (None if it may be one), and its id if known."""
    if not isinstance(raw, dict):
        kind = "a batch (array)" if isinstance(raw, list) else f"a JSON {type(raw).__name__}"
        return f"expected one JSON-RPC message object, got {kind}", None
    request_id = raw.get("id")
    valid_id = isinstance(request_id, str) or (
        isinstance(request_id, int) and not isinstance(request_id, bool)
    )
    known: RequestId | None = request_id if valid_id else None
    if raw.get("jsonrpc") != "2.0":
        return 'the "jsonrpc" member must be exactly "2.0"', known
    if "method" not in raw:
        if "result" in raw or "error" in raw:
            return None, known  # a response (to an elicitation, ...): the SDK decides
        return 'a request needs a "method" member', known
    if not isinstance(raw["method"], str):
        return 'the "method" member must be a string', known
    if "id" in raw and not valid_id:
        shown = (
            "1.5" if isinstance(request_id, float) and math.isfinite(request_id) else json.dumps(request_id)
        )
        return f'the "id" member must be a string or an integer, got {shown}', None
    if "params" in raw and not isinstance(raw["params"], dict):
        return 'the "params" member must be an object', known
    return None, known


def _rejection(request_id: RequestId | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))
