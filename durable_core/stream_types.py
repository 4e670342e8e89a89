"""Types of durable output streams (``ctx.stream(name)``) that cross layers; no I/O here.

A stream is an append-only list of chunks per ``(instance id, stream name)``. Every chunk carries the
history position of the activity step that wrote it and the attempt of that step, so a reader can tell
chunks of the attempt whose result was recorded from chunks of an attempt that failed or was cut off by a
crash (see ``docs/streams.md``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

__all__ = [
    "MAX_STREAM_NAME_LENGTH",
    "ChunkKind",
    "ChunkStatus",
    "StoredChunk",
    "StreamChunk",
    "StreamPage",
]

#: stream names are short identifiers (they are part of the primary key and of resource URIs)
MAX_STREAM_NAME_LENGTH: Final = 200


class ChunkKind(enum.StrEnum):
    """What a stored chunk is."""

    DATA = "data"  # a value the activity wrote
    CLOSE = "close"  # the writer closed the stream (followers stop after it)


class ChunkStatus(enum.StrEnum):
    """What became of the attempt that wrote a chunk, as far as the reader can know now."""

    COMMITTED = "committed"  # the step's result was recorded from this attempt
    IN_FLIGHT = "in_flight"  # the attempt is (as far as the database says) still running
    ABANDONED = "abandoned"  # the attempt failed and was retried, or a crash cut it off: ignore its chunks
    FAILED = "failed"  # the step failed for good on this attempt (its error is recorded)


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as stored, both ways between engine and storage (its status is worked out on reading).

    ``payload`` is a serializer ``Payload``; ``epoch`` the lease epoch of the run that wrote it.
    """

    stream: str
    seq: int
    position: int
    attempt: int
    epoch: int
    kind: ChunkKind
    payload: Any
    written_at: datetime


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One chunk as a reader sees it.

    Attributes:
        seq: 1-based sequence number in the stream; the cursor to pass as ``after=`` to read on.
        data: the value written (``str``, ``bytes`` or a JSON value); None for a CLOSE marker.
        position: history position of the activity step that wrote it.
        attempt: the attempt of that step (1-based).
        status: what became of that attempt (read again later: an IN_FLIGHT attempt may commit or not).
        kind: DATA, or CLOSE when the writer closed the stream.
        written_at: when the writer buffered it (the engine clock).
        stream: the stream's name.
    """

    seq: int
    data: Any
    position: int
    attempt: int
    status: ChunkStatus
    kind: ChunkKind
    written_at: datetime
    stream: str = ""

    @property
    def text(self) -> str:
        """``data`` as text: str as is, bytes decoded as UTF-8 (replacing errors), JSON values dumped."""
        if isinstance(self.data, str):
            return self.data
        if isinstance(self.data, bytes):
            return self.data.decode("utf-8", "replace")
        return json.dumps(self.data, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class StreamPage:
    """What :meth:`EddaApp.read_stream` returns.

    Attributes:
        chunks: the chunks after the cursor, in order (CLOSE markers included).
        cursor: pass it as ``after=`` to read on (unchanged when there was nothing new).
        closed: a CLOSE marker of an attempt that was not abandoned has been read.
        finished: the instance has finished, so nothing more will be written.
    """

    chunks: tuple[StreamChunk, ...]
    cursor: int
    closed: bool
    finished: bool

    @property
    def done(self) -> bool:
        """True when a follower can stop: the stream was closed or its instance finished."""
        return self.closed or self.finished
