"""Client-side adapters: how ``mcp_roundtrip.py`` starts, polls and reads one durable tool on each server.

Both servers are driven by the same MCP client (the project's SDK, ``mcp.Client``); only the shape of the
answers differs:

* ours (``mcp_bench_server.py``): ``structuredContent`` with ``instance_id`` / ``result``; a result that
  is not ready is an ``isError`` answer with ``error == "not_finished"``; ``<name>_result`` can wait
  server-side (``wait_seconds``), so the client long-polls.
* edda-framework 0.16.2 (``mcp_peer_server.py``): its tools return a ``{"content": [...], "isError": ...}``
  dict that the SDK wraps once more, so its own ``isError`` flag travels *inside* the payload (as JSON text
  for the start tool, as ``structuredContent`` for status/result) while the MCP-level ``isError`` stays
  false; the instance id is in the text (``Instance ID: <id>``) and the result is a Python ``repr`` of the
  stored output (``Workflow Result:\\n{'result': 8}``). Its result tool cannot wait, so the client polls
  every :data:`PEER_POLL_S` seconds (the same interval our server polls its database at).
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import time
from typing import Any, Protocol

from mcp.types import CallToolResult

TOOL = "three_steps"
PEER_POLL_S = 0.05
_INSTANCE_ID = re.compile(r"Instance ID: (\S+)")


class BenchError(Exception):
    """A tool answered something other than the expected success."""


class ToolCaller(Protocol):
    """What the drivers need from a client: ``mcp.Client`` or a wrapper limiting in-flight calls."""

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call one tool and return its answer."""
        ...


class Driver(Protocol):
    """Start, status and result of the ``three_steps`` durable tool on one server."""

    name: str

    async def start(self, client: ToolCaller, seed: int) -> str:
        """Call the start tool and return the instance id."""
        ...

    async def status(self, client: ToolCaller, instance_id: str) -> None:
        """Call the status tool (and check it answered)."""
        ...

    async def result(self, client: ToolCaller, instance_id: str, deadline: float) -> int:
        """Fetch the result, waiting or polling until ``deadline`` (``time.monotonic()``)."""
        ...


def _text(answer: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in answer.content)


class OurDriver:
    """Driver for ``edda_mcp`` (``mcp_bench_server.py``)."""

    name = "edda-mcp"

    async def start(self, client: ToolCaller, seed: int) -> str:
        answer = await client.call_tool(TOOL, {"seed": seed})
        data = answer.structured_content or {}
        if answer.is_error or "instance_id" not in data:
            raise BenchError(f"start failed: {_text(answer)[:300]}")
        return str(data["instance_id"])

    async def status(self, client: ToolCaller, instance_id: str) -> None:
        answer = await client.call_tool(f"{TOOL}_status", {"instance_id": instance_id})
        if answer.is_error:
            raise BenchError(f"status failed: {_text(answer)[:300]}")

    async def result(self, client: ToolCaller, instance_id: str, deadline: float) -> int:
        while True:
            wait = max(0.0, min(30.0, deadline - time.monotonic()))
            answer = await client.call_tool(
                f"{TOOL}_result", {"instance_id": instance_id, "wait_seconds": wait}
            )
            data = answer.structured_content or {}
            if not answer.is_error:
                return int(data["result"])
            if data.get("error") != "not_finished" or time.monotonic() >= deadline:
                raise BenchError(f"result failed: {_text(answer)[:300]}")


def _peer_payload(answer: CallToolResult) -> tuple[bool, str]:
    """Unwrap edda's own ``{"content", "isError"}`` dict: return ``(is_error, text)``."""
    if answer.is_error:  # an exception inside the tool: the SDK's own error answer
        return True, _text(answer)
    data: Any = answer.structured_content
    if data is None:
        try:
            data = json.loads(_text(answer))
        except ValueError:
            return True, _text(answer)
    text = " ".join(str(block.get("text", "")) for block in data.get("content", []))
    return bool(data.get("isError")), text


class PeerDriver:
    """Driver for edda-framework 0.16.2's ``EddaMCPServer`` (``mcp_peer_server.py``)."""

    name = "edda-framework 0.16.2"

    async def start(self, client: ToolCaller, seed: int) -> str:
        failed, text = _peer_payload(await client.call_tool(TOOL, {"seed": seed}))
        match = _INSTANCE_ID.search(text)
        if failed or match is None:
            raise BenchError(f"peer start failed: {text[:300]}")
        return match.group(1)

    async def status(self, client: ToolCaller, instance_id: str) -> None:
        failed, text = _peer_payload(await client.call_tool(f"{TOOL}_status", {"instance_id": instance_id}))
        if failed:
            raise BenchError(f"peer status failed: {text[:300]}")

    async def result(self, client: ToolCaller, instance_id: str, deadline: float) -> int:
        while True:
            failed, text = _peer_payload(
                await client.call_tool(f"{TOOL}_result", {"instance_id": instance_id})
            )
            if not failed:
                output = ast.literal_eval(text.split("Workflow Result:", 1)[1].strip())
                return int(output["result"])
            if "not completed yet" not in text or time.monotonic() >= deadline:
                raise BenchError(f"peer result failed: {text[:300]}")
            await asyncio.sleep(PEER_POLL_S)
