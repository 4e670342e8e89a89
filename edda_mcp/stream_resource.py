"""``edda://instances/{instance_id}/streams/{name}``: a durable output stream as a resource.

The resource is JSON: ``text`` joins the chunks that count (those of abandoned attempts are left out),
``chunks`` lists every chunk with the step position, attempt and attempt status that wrote it, and
``cursor`` is where to go on reading (``app.read_stream(..., after=cursor)``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from durable_core import ChunkKind, ChunkStatus, EddaApp, InputValidationError, StreamChunk

__all__ = ["MAX_RESOURCE_CHUNKS", "STREAM_URI", "register_stream_resource", "stream_uri"]

STREAM_URI: Final = "edda://instances/{instance_id}/streams/{name}"
#: a resource read returns at most this many chunks (``truncated`` says when there are more)
MAX_RESOURCE_CHUNKS: Final = 10_000
_DOC: Final = (
    "A durable output stream of a workflow instance (e.g. LLM tokens): its text so far and every chunk "
    "with the step and attempt that wrote it."
)


def stream_uri(instance_id: str, name: str) -> str:
    """The resource URI of stream ``name`` of an instance."""
    return STREAM_URI.format(instance_id=instance_id, name=name)


def register_stream_resource(
    mcp: MCPServer[Any], app: Callable[[], EddaApp], check: Callable[[EddaApp, str], Awaitable[Any]]
) -> None:
    """Add the stream resource template to ``mcp``; ``check`` refuses instances the caller may not see."""

    @mcp.resource(STREAM_URI, name="instance-stream", mime_type="application/json", description=_DOC)
    async def stream(instance_id: str, name: str) -> str:
        engine = app()
        await check(engine, instance_id)
        chunks: list[StreamChunk] = []
        cursor, closed, finished = 0, False, False
        try:
            while len(chunks) < MAX_RESOURCE_CHUNKS:
                page = await engine.read_stream(instance_id, name, after=cursor)
                chunks.extend(page.chunks)
                cursor, closed, finished = page.cursor, page.closed, page.finished
                if not page.chunks or page.done:
                    break
        except InputValidationError as exc:
            raise ResourceError(str(exc)) from None
        return json.dumps(_content(instance_id, name, chunks, cursor, closed, finished), indent=2)


def _content(
    instance_id: str, name: str, chunks: list[StreamChunk], cursor: int, closed: bool, finished: bool
) -> dict[str, Any]:
    data = [c for c in chunks if c.kind is ChunkKind.DATA]
    return {
        "instance_id": instance_id,
        "stream": name,
        "text": "".join(c.text for c in data if c.status is not ChunkStatus.ABANDONED),
        "chunks": [
            {
                "seq": c.seq,
                "text": c.text,
                "position": c.position,
                "attempt": c.attempt,
                "status": c.status.value,
            }
            for c in data
        ],
        "cursor": cursor,
        "closed": closed,
        "finished": finished,
        "truncated": len(chunks) >= MAX_RESOURCE_CHUNKS,
    }
