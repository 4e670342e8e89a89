"""The output-stream part of :class:`~durable_core.engine.app.EddaApp`'s API (a mixin): read and follow.

A reader gets every stored chunk with the step position and attempt that wrote it, and the status of that
attempt as the database says now (see :class:`~durable_core.stream_types.ChunkStatus`):

* the step has a recorded outcome: chunks of its final attempt are COMMITTED (FAILED when the step
  failed for good); chunks of earlier attempts are ABANDONED;
* no outcome yet: chunks of attempts the engine counted as failed (retried), of a run whose lease was
  taken over since (a crash), or of an instance that has finished are ABANDONED; the rest IN_FLIGHT.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Final

from durable_core.engine.services import EngineServices
from durable_core.engine.validation import existing_instance_id
from durable_core.errors import InputValidationError, InstanceNotFoundError
from durable_core.operator_types import StreamSummary
from durable_core.storage.base import Storage
from durable_core.stream_types import (
    MAX_STREAM_NAME_LENGTH,
    ChunkKind,
    ChunkStatus,
    StoredChunk,
    StreamChunk,
    StreamPage,
)
from durable_core.types import AttemptState, HistoryEntry, InstanceRecord, StepOutcome
from durable_core.validation import check_identifier

__all__ = ["DEFAULT_FOLLOW_POLL", "MAX_READ_LIMIT", "MAX_STREAM_GROUPS", "StreamsAPI"]

#: most chunks one read returns
MAX_READ_LIMIT: Final = 1000
#: seconds between reads of a follower when no push arrives (other processes on SQLite or MySQL, and a
#: safety net for a PostgreSQL notification lost while the listener reconnected)
DEFAULT_FOLLOW_POLL: Final = 1.0
#: most (stream, step, attempt, kind) groups one ``list_streams`` reads
MAX_STREAM_GROUPS: Final = 1000


class _Statuses:
    """Works out the status of chunks' attempts for one read (one query per step touched)."""

    def __init__(self, storage: Storage, instance: InstanceRecord) -> None:
        self._storage = storage
        self._instance = instance
        self._entries: dict[int, HistoryEntry | None] = {}
        self._attempts: dict[int, AttemptState] | None = None

    async def of(self, chunk: StoredChunk) -> ChunkStatus:
        iid = self._instance.instance_id
        if chunk.position not in self._entries:
            self._entries[chunk.position] = await self._storage.get_entry(iid, chunk.position)
        entry = self._entries[chunk.position]
        if entry is not None:
            final = entry.retry.total_attempts if entry.retry is not None else 1
            if chunk.attempt != final:
                return ChunkStatus.ABANDONED
            return ChunkStatus.COMMITTED if entry.outcome is StepOutcome.OK else ChunkStatus.FAILED
        if self._attempts is None:
            self._attempts = await self._storage.load_attempts(iid)
        counted = self._attempts.get(chunk.position)
        if counted is not None and chunk.attempt <= counted.attempts:
            return ChunkStatus.ABANDONED  # failed and retried, or cut off by a crash and charged
        if chunk.epoch < self._instance.lease_epoch or self._instance.status.is_finished:
            return ChunkStatus.ABANDONED  # the run that wrote it is gone (crash / lost lease) or over
        return ChunkStatus.IN_FLIGHT


class StreamsAPI:
    """``read_stream``, ``follow_stream`` and ``follow_streams``."""

    _storage: Storage
    _services: EngineServices

    async def read_stream(
        self, instance_id: str, name: str, *, after: int = 0, limit: int = MAX_READ_LIMIT
    ) -> StreamPage:
        """The chunks of stream ``name`` of an instance after cursor ``after`` (0: from the start).

        Args:
            instance_id: the workflow instance.
            name: the stream name the activities wrote with ``ctx.stream(name)``.
            after: the cursor of the previous page (``page.cursor``), or 0.
            limit: at most this many chunks (1..1000).

        Raises:
            InstanceNotFoundError: no such instance.
            InputValidationError: a bad name, cursor or limit.
        """
        check_identifier("stream name", name, limit=MAX_STREAM_NAME_LENGTH)
        _check_cursor(name, after)
        _check_limit(limit)
        instance = await self._instance_for_read(instance_id)
        stored = await self._storage.streams().read(instance_id, name, after, limit)
        chunks = await self._chunks(instance, stored)
        closed = any(c.kind is ChunkKind.CLOSE and c.status is not ChunkStatus.ABANDONED for c in chunks)
        cursor = stored[-1].seq if stored else after
        finished = instance.status.is_finished and len(stored) < limit
        return StreamPage(tuple(chunks), cursor, closed, finished)

    async def list_streams(self, instance_id: str) -> list[StreamSummary]:
        """The durable output streams of an instance, by name: chunk counts by attempt status, last write.

        Raises:
            InstanceNotFoundError: no such instance.
        """
        instance = await self._instance_for_read(existing_instance_id(instance_id))
        groups = await self._storage.operator_queries().stream_groups(instance_id, MAX_STREAM_GROUPS)
        statuses = _Statuses(self._storage, instance)
        summaries: dict[str, StreamSummary] = {}
        for g in groups:
            kind = ChunkKind(g.kind)
            probe = StoredChunk(
                g.stream, g.last_seq, g.position, g.attempt, g.epoch, kind, None, g.last_written_at
            )
            status = await statuses.of(probe)
            old = summaries.get(g.stream) or StreamSummary(g.stream, 0, 0, g.last_written_at)
            summaries[g.stream] = dataclasses.replace(
                old,
                chunks=old.chunks + g.count,
                last_seq=max(old.last_seq, g.last_seq),
                last_written_at=max(old.last_written_at, g.last_written_at),
                in_flight=old.in_flight + (g.count if status is ChunkStatus.IN_FLIGHT else 0),
                abandoned=old.abandoned + (g.count if status is ChunkStatus.ABANDONED else 0),
                failed=old.failed + (g.count if status is ChunkStatus.FAILED else 0),
                closed=old.closed or (kind is ChunkKind.CLOSE and status is not ChunkStatus.ABANDONED),
            )
        return [summaries[name] for name in sorted(summaries)]

    async def follow_stream(
        self,
        instance_id: str,
        name: str,
        *,
        after: int = 0,
        poll_interval: float = DEFAULT_FOLLOW_POLL,
    ) -> AsyncIterator[StreamChunk]:
        """Yield the stream's chunks as they are stored, until it is closed or the instance finishes.

        Followers are woken as soon as chunks are stored by this process, and by other processes on
        PostgreSQL (LISTEN/NOTIFY); elsewhere writes of other processes are picked up by a read every
        ``poll_interval`` seconds (the end of a run in another process is noticed that way too).
        Reconnect after an interruption with ``after=`` the last chunk's ``seq``: no chunk is missed or
        repeated.

        Args:
            instance_id: the workflow instance.
            name: the stream name.
            after: resume after this cursor (0: from the start).
            poll_interval: seconds between reads when nothing is pushed (> 0).
        """
        _check_poll(poll_interval)
        cursor = after
        async with self._woken(instance_id) as woken:
            while True:
                woken.clear()
                page = await self.read_stream(instance_id, name, after=cursor)
                for chunk in page.chunks:
                    yield chunk
                cursor = page.cursor
                if page.done:
                    return
                if len(page.chunks) < MAX_READ_LIMIT:  # else more is stored already
                    await _nap(woken, poll_interval)

    async def follow_streams(
        self,
        instance_id: str,
        *,
        after: Mapping[str, int] | None = None,
        poll_interval: float = DEFAULT_FOLLOW_POLL,
    ) -> AsyncIterator[StreamChunk]:
        """Yield the chunks of every stream of the instance (``chunk.stream`` names it) until it finishes.

        Args:
            instance_id: the workflow instance.
            after: per stream name, resume after this cursor (streams not named: from the start).
            poll_interval: seconds between reads when nothing is pushed (> 0).
        """
        _check_poll(poll_interval)
        cursors = dict(after or {})
        for name, seq in cursors.items():
            _check_cursor(name, seq)
        async with self._woken(instance_id) as woken:
            while True:
                woken.clear()
                instance = await self._instance_for_read(instance_id)
                stored = await self._storage.streams().read_all(instance_id, cursors, MAX_READ_LIMIT)
                for chunk in await self._chunks(instance, stored):
                    cursors[chunk.stream] = chunk.seq
                    yield chunk
                if len(stored) == MAX_READ_LIMIT:
                    continue
                if instance.status.is_finished:
                    return
                await _nap(woken, poll_interval)

    @contextlib.asynccontextmanager
    async def _woken(self, instance_id: str) -> AsyncIterator[asyncio.Event]:
        hub = self._services.streams
        hub.ensure_listener(self._storage)
        with hub.listen(instance_id) as woken:
            yield woken

    async def _instance_for_read(self, instance_id: str) -> InstanceRecord:
        # read before the chunks: if it had finished, every chunk it wrote is stored already
        instance = await self._storage.get_instance(instance_id)
        if instance is None:
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        return instance

    async def _chunks(self, instance: InstanceRecord, stored: list[StoredChunk]) -> list[StreamChunk]:
        statuses = _Statuses(self._storage, instance)
        serializer = self._services.serializer
        chunks: list[StreamChunk] = []
        for c in stored:
            status = await statuses.of(c)
            data = serializer.decode(c.payload) if c.kind is ChunkKind.DATA else None
            chunks.append(
                StreamChunk(c.seq, data, c.position, c.attempt, status, c.kind, c.written_at, c.stream)
            )
        return chunks


async def _nap(woken: asyncio.Event, seconds: float) -> None:
    """Wait until woken (a push) or ``seconds`` passed (the bounded fallback poll)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(woken.wait(), seconds)


def _check_cursor(name: str, after: int) -> None:
    if type(after) is not int or after < 0:
        raise InputValidationError(f"after must be a cursor (an int >= 0) for stream {name!r}, got {after!r}")


def _check_limit(limit: int) -> None:
    if type(limit) is not int or not 1 <= limit <= MAX_READ_LIMIT:
        raise InputValidationError(f"limit must be an int in 1..{MAX_READ_LIMIT}, got {limit!r}")


def _check_poll(poll_interval: float) -> None:
    if not poll_interval > 0:
        raise InputValidationError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
