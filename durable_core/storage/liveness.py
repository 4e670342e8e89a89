"""Worker liveness: heartbeat rows in ``edda_workers`` and the "owner is dead" rule used by claims.

Every running worker process has a row whose ``expires_at`` its heartbeat keeps pushing forward. Both
the heartbeat and the rule that reads it use the *database's* clock (:class:`DatabaseNow`), so clock
skew between hosts cannot declare a live worker dead. A worker whose row has expired is dead: claims
may take its leases before they expire (:func:`owner_dead`, part of
:func:`~durable_core.storage.leases.lease_free`). Taking over still bumps the lease epoch, so every
write of the old owner stays fenced. An owner without a row (older code, or a row already cleared)
is judged by its lease expiry alone.

A heartbeat never brings an expired row back to life (:meth:`SqlLiveness.beat` only extends a row that
has not expired): the worker must first give up every lease it held (:meth:`SqlLiveness.revive`), since
other workers may already have taken them over.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.sql.elements import ColumnElement

from durable_core.storage.base import LivenessStore
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dbtime import DatabaseNow
from durable_core.storage.dialects import dialect_for
from durable_core.storage.schema import INSTANCES, WORKERS
from durable_core.storage.urls import backend_of, is_memory_sqlite, mask_url, normalize_url

__all__ = ["SqlLiveness", "owner_dead"]

_I = INSTANCES.c
_W = WORKERS.c
#: rows of workers dead for this long, that no longer own any lease, are deleted at registration
FORGET_DEAD_AFTER: Final = timedelta(hours=1)


def owner_dead() -> ColumnElement[bool]:
    """The instance's lease owner has a heartbeat row that expired (by the database's clock)."""
    return exists().where(_W.worker_id == _I.lease_owner, _W.expires_at <= DatabaseNow())


class SqlLiveness(LivenessStore):
    """Heartbeat rows on a connection of their own (one pooled connection, never the app's pool).

    A separate engine keeps the heartbeat independent of a busy app pool, and lets it run on a thread
    with its own event loop (create it there: the engine binds to the loop that first uses it).

    Args:
        url: the app's database URL (file SQLite, PostgreSQL or MySQL; not in-memory SQLite).
    """

    def __init__(self, url: str) -> None:
        normalized = normalize_url(url)
        if is_memory_sqlite(normalized):
            raise ValueError("in-memory SQLite serves one process: it needs no liveness heartbeat")
        dialect = dialect_for(backend_of(normalized), normalized)
        engine = create_async_engine(normalized, **dialect.engine_kwargs(1, 0, False))
        dialect.install_events(engine)
        self._conns = Connections(engine, dialect, mask_url(url))

    @guarded()
    async def register(self, worker_id: str, ttl: timedelta) -> None:
        """Insert this worker's row, alive for ``ttl``; clear rows of long-dead workers without leases."""
        leased = exists().where(_I.lease_owner == _W.worker_id)
        forget = delete(WORKERS).where(_W.expires_at < DatabaseNow(-FORGET_DEAD_AFTER), ~leased)
        async with self._conns.write() as conn:
            await conn.execute(forget)
            await conn.execute(
                insert(WORKERS).values(
                    worker_id=worker_id,
                    started_at=DatabaseNow(),
                    beat_at=DatabaseNow(),
                    expires_at=DatabaseNow(ttl),
                )
            )

    @guarded()
    async def beat(self, worker_id: str, ttl: timedelta) -> bool:
        """Extend the row to now + ``ttl``; False if it had expired (or is gone): the worker was declared dead."""
        stmt = (
            update(WORKERS)
            .where(_W.worker_id == worker_id, _W.expires_at > DatabaseNow())
            .values(beat_at=DatabaseNow(), expires_at=DatabaseNow(ttl))
        )
        async with self._conns.write() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    @guarded()
    async def revive(self, worker_id: str, ttl: timedelta) -> int:
        """After a lapse: free every lease the worker still holds, then make its row alive again.

        The worker has stopped the runs of those leases. Their owner and epoch stay, so the next claim
        counts a crash and bumps the epoch as for any dead owner. One transaction.

        Returns:
            How many leases were freed.
        """
        free = (
            update(INSTANCES)
            .where(_I.lease_owner == worker_id, _I.lease_expires_at.is_not(None))
            .values(lease_expires_at=None)
        )
        alive = {"beat_at": DatabaseNow(), "expires_at": DatabaseNow(ttl)}
        async with self._conns.write() as conn:
            freed = (await conn.execute(free)).rowcount
            updated = await conn.execute(update(WORKERS).where(_W.worker_id == worker_id).values(**alive))
            if updated.rowcount != 1:
                await conn.execute(
                    insert(WORKERS).values(worker_id=worker_id, started_at=DatabaseNow(), **alive)
                )
        return int(freed)

    @guarded()
    async def retire(self, worker_id: str) -> None:
        """Mark the worker dead now (clean shutdown): any lease it still holds may be taken at once."""
        stmt = update(WORKERS).where(_W.worker_id == worker_id).values(expires_at=DatabaseNow())
        async with self._conns.write() as conn:
            await conn.execute(stmt)

    @guarded()
    async def expires_in(self, worker_id: str) -> timedelta | None:
        """How long the worker's row stays alive, by the database's clock (None: no row)."""
        stmt = select(_W.expires_at, DatabaseNow()).where(_W.worker_id == worker_id)
        async with self._conns.read() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else row[0] - row[1]

    async def close(self) -> None:
        """Dispose of the connection."""
        await self._conns.engine.dispose()
