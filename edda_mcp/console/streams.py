"""The stream view of an instance: one durable output stream's chunks, paged from a cursor, live.

``GET /instances/{id}/stream?name=<stream>&after=<cursor>`` shows up to :data:`PAGE_CHUNKS` chunks after
the cursor (``app.read_stream``) with the step, attempt and attempt status of each; chunks of abandoned
(partial) attempts are marked. While the instance runs, the page's live stream (``page=stream``) says
"changed" when a chunk is stored or the instance moves on, and the page fetches itself again. Chunks are
untrusted text: the template escapes them, and the console's ``redact=`` hook applies to them as to
payloads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from durable_core import ChunkKind, EddaError, InstanceNotFoundError, StreamChunk

if TYPE_CHECKING:
    from edda_mcp.console.app import Console

__all__ = ["PAGE_CHUNKS", "ShownChunk", "stream_fingerprint", "stream_view"]

#: chunks per page of the stream view
PAGE_CHUNKS: Final = 200
#: characters of one chunk shown
_CHUNK_CHARS: Final = 4000


@dataclass(frozen=True, slots=True)
class ShownChunk:
    """A chunk as the page shows it (``text`` is escaped by the template)."""

    chunk: StreamChunk
    text: str
    redacted: bool


def _shown(console: Console, workflow_name: str, chunk: StreamChunk) -> ShownChunk:
    if chunk.kind is ChunkKind.CLOSE:
        return ShownChunk(chunk, "(stream closed)", False)
    value, redacted = console.redactor(workflow_name, chunk.data)
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = json.dumps(value, ensure_ascii=False)
    if len(text) > _CHUNK_CHARS:
        text = text[:_CHUNK_CHARS] + " …"
    return ShownChunk(chunk, text, redacted)


def _cursor(text: str) -> int:
    if not text:
        return 0
    if not text.isdigit() or len(text) > 18:  # sequence numbers are BIGINTs: keep it in range
        raise ValueError(f"after: expected a cursor (a whole number >= 0), got {text[:40]!r}")
    return int(text)


async def stream_view(console: Console, request: Request) -> Response:
    """One page of a stream's chunks (from ``after``), following live while the instance runs."""
    instance_id = request.path_params["instance_id"]
    name = request.query_params.get("name", "")
    try:
        after = _cursor(request.query_params.get("after", ""))
        record = await console.app.get_instance(instance_id)
        page = await console.app.read_stream(instance_id, name, after=after, limit=PAGE_CHUNKS)
    except InstanceNotFoundError as exc:
        return console.render(request, "error.html", 404, title="Not found", problem=str(exc))
    except (EddaError, ValueError) as exc:
        return console.render(request, "error.html", 400, title="Bad request", problem=str(exc))
    chunks = [_shown(console, record.workflow_name, c) for c in page.chunks]
    live = (
        "" if page.finished else f"page=stream&id={quote(instance_id, safe='')}&name={quote(name, safe='')}"
    )
    return console.render(
        request,
        "stream.html",
        title=f"Stream {name} of {instance_id}",
        live=live,
        r=record,
        stream_name=name,
        after=after,
        chunks=chunks,
        next_after=page.cursor if len(page.chunks) >= PAGE_CHUNKS else None,
        stream_page=page,
    )


def stream_fingerprint(console: Console, instance_id: str, name: str) -> Callable[[], Any]:
    """The live check of a stream view: its last chunk and the instance's state (attempts settle then)."""

    async def fingerprint() -> Hashable:
        record = await console.app.get_instance(instance_id)
        last = await console.app.storage.streams().last_seq(instance_id, name)
        return last, record.status, record.updated_at, record.lease_epoch

    return fingerprint
