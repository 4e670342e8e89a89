"""Storage of durable output streams: table ``edda_stream_chunks`` (see ``docs/streams.md``).

Chunks are appended in small batches, each batch in a transaction of its own (never in the activity's
transaction: readers must see them while the activity still runs). On PostgreSQL the batch's
transaction also sends ``pg_notify('edda_stream', '<instance id>')``, so followers in other processes are
woken when - and only if - the chunks are committed. Elsewhere followers in other processes fall back to
a bounded poll.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Row, and_, bindparam, func, insert, or_, select

from durable_core.storage.base import WakeListener
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dialects import SqlDialect
from durable_core.storage.records import payload_from_row, payload_values, utc
from durable_core.storage.schema import STREAM_CHUNKS
from durable_core.stream_types import ChunkKind, StoredChunk
from durable_core.types import Backend

__all__ = ["STREAM_CHANNEL", "SqlStreamStore", "StreamStore"]

#: PostgreSQL NOTIFY channel of stream appends (payload: the instance id)
STREAM_CHANNEL: Final = "edda_stream"
_C = STREAM_CHUNKS.c


class StreamStore(abc.ABC):
    """Append and read stream chunks."""

    @abc.abstractmethod
    async def append(self, instance_id: str, chunks: Sequence[StoredChunk]) -> None:
        """Store ``chunks`` (their ``seq`` already assigned) in one transaction."""

    @abc.abstractmethod
    async def last_seq(self, instance_id: str, stream: str) -> int:
        """The highest stored ``seq`` of the stream (0 when it has none)."""

    @abc.abstractmethod
    async def read(self, instance_id: str, stream: str, after: int, limit: int) -> list[StoredChunk]:
        """Up to ``limit`` chunks with ``seq > after``, in order."""

    @abc.abstractmethod
    async def read_all(self, instance_id: str, after: Mapping[str, int], limit: int) -> list[StoredChunk]:
        """Up to ``limit`` chunks of every stream of the instance after its cursor in ``after`` (0 if absent).

        Ordered by stream name, then seq (so a page cut by ``limit`` never skips a chunk of a stream).
        """

    def listener(
        self, on_ids: Callable[[list[str]], None], on_connected: Callable[[], None]
    ) -> WakeListener | None:
        """A listener for appends committed by other processes, or None (followers poll)."""
        return None


class SqlStreamStore(StreamStore):
    """Stream chunks on the engine's own database (get it with ``SqlStorage.streams()``)."""

    def __init__(self, conns: Connections, dialect: SqlDialect) -> None:
        self._conns = conns
        self._dialect = dialect

    def listener(
        self, on_ids: Callable[[list[str]], None], on_connected: Callable[[], None]
    ) -> WakeListener | None:
        """``LISTEN edda_stream`` on PostgreSQL; None elsewhere."""
        if self._dialect.name != Backend.POSTGRESQL:
            return None
        from durable_core.storage.notify_postgres import PostgresWakeListener  # asyncpg only when used

        return PostgresWakeListener(self._conns, on_ids, on_connected, channel=STREAM_CHANNEL)

    @guarded()
    async def append(self, instance_id: str, chunks: Sequence[StoredChunk]) -> None:
        """Insert the batch; on PostgreSQL notify followers in the same transaction."""
        if not chunks:
            return
        rows = [
            {
                "instance_id": instance_id,
                "stream": c.stream,
                "seq": c.seq,
                "position": c.position,
                "attempt": c.attempt,
                "lease_epoch": c.epoch,
                "kind": c.kind.value,
                "written_at": c.written_at,
                **payload_values("data", c.payload),
            }
            for c in chunks
        ]
        async with self._conns.write() as conn:
            await conn.execute(insert(STREAM_CHUNKS), rows)
            if (
                self._dialect.name == Backend.POSTGRESQL
            ):  # the only dialect with NOTIFY (see module docstring)
                await conn.execute(select(func.pg_notify(STREAM_CHANNEL, bindparam("iid", instance_id))))

    @guarded()
    async def last_seq(self, instance_id: str, stream: str) -> int:
        """``max(seq)`` of the stream, served by the primary key."""
        stmt = select(func.max(_C.seq)).where(_C.instance_id == instance_id, _C.stream == stream)
        async with self._conns.read() as conn:
            return int((await conn.execute(stmt)).scalar() or 0)

    @guarded()
    async def read(self, instance_id: str, stream: str, after: int, limit: int) -> list[StoredChunk]:
        """A primary-key range scan."""
        stmt = (
            select(STREAM_CHUNKS)
            .where(_C.instance_id == instance_id, _C.stream == stream, _C.seq > after)
            .order_by(_C.seq)
            .limit(limit)
        )
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_stored(r) for r in rows]

    @guarded()
    async def read_all(self, instance_id: str, after: Mapping[str, int], limit: int) -> list[StoredChunk]:
        """One scan of the instance's chunks, skipping each stream's part up to its cursor."""
        newer = [and_(_C.stream == name, _C.seq > seq) for name, seq in after.items()]
        if after:
            newer.append(_C.stream.not_in(list(after)))
        stmt = select(STREAM_CHUNKS).where(_C.instance_id == instance_id)
        if newer:
            stmt = stmt.where(or_(*newer))
        stmt = stmt.order_by(_C.stream, _C.seq).limit(limit)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_stored(r) for r in rows]


def _stored(r: Row[Any]) -> StoredChunk:
    return StoredChunk(
        stream=r.stream,
        seq=int(r.seq),
        position=int(r.position),
        attempt=int(r.attempt),
        epoch=int(r.lease_epoch),
        kind=ChunkKind(r.kind),
        payload=payload_from_row(r._mapping, "data"),
        written_at=utc(r.written_at),
    )
