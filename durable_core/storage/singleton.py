"""Singleton keys in the database: the start that takes or queues behind a key, and the hand-over.

A singleton key is an ``edda_flow_keys`` row ``("singleton", workflow, key) -> instance id``: the instance
holding the key. Every instance started with the key records it in ``edda_instances.singleton_key``.
With ``on_conflict="queue"`` a start while the key is held stores its instance as QUEUED (not runnable);
the line of a key is its QUEUED instances, oldest ``created_at`` first.

Every change of a key's holder happens under the key row's lock (``FOR UPDATE``): a start that takes it,
and the hand-over that a finishing holder does *in its finish transaction* (the fenced final UPDATE,
then the key row, then the oldest QUEUED row turned PENDING and the key pointed at it). So a crash before
that commit leaves the holder unfinished (its run is retried) and after it the next in line is
runnable: nobody is lost and nobody starts twice. Lock order is always instance row, then key row,
then the queued row; a start locks only the key row before reading.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from durable_core.errors import StorageUnavailableError
from durable_core.storage import hot_statements as hot
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dialects import SqlDialect
from durable_core.storage.schema import FLOW_KEYS, INSTANCES
from durable_core.types import FINISHED_STATUSES, FinishRequest, InstanceStatus, Lease

__all__ = ["KIND", "SingletonLine"]

_I, _K = INSTANCES.c, FLOW_KEYS.c
#: the ``edda_flow_keys.kind`` of singleton keys
KIND: Final = "singleton"
_QUEUED: Final = InstanceStatus.QUEUED.value
_FINISHED: Final = sorted(s.value for s in FINISHED_STATUSES)
#: candidates tried per hand-over when the oldest in line leaves it (is cancelled) at the same moment
PROMOTE_TRIES: Final = 100


class SingletonLine:
    """The statements that move a singleton key from one instance to the next in line."""

    def __init__(self, conns: Connections, dialect: SqlDialect) -> None:
        self._conns = conns
        self._dialect = dialect

    def _lock(self, stmt: Any) -> Any:
        return self._dialect.lock_rows(stmt, self._conns.engine.dialect)

    @guarded()
    async def finish(
        self, lease: Lease, request: FinishRequest, now: datetime, workflow: str, key: str
    ) -> tuple[bool, str | None]:
        """Finish an instance started with a singleton key; hand the key on if it held it, atomically.

        Returns:
            (False, None) when the lease is lost (nothing written); else (True, the instance that was
            handed the key, if any).
        """
        async with self._conns.write() as conn:
            done = await conn.execute(hot.FINISH_UPDATE, hot.finish_params(lease, request, now))
            if done.rowcount != 1:  # fenced out: the UPDATE wrote nothing
                return False, None
            if not request.status.is_finished:  # blocked / outcome unknown: it keeps the key
                return True, None
            return True, await self.hand_over(conn, workflow, key, lease.instance_id, now)

    async def hand_over(
        self, conn: AsyncConnection, workflow: str, key: str, leaving: str, now: datetime
    ) -> str | None:
        """If ``leaving`` holds the key, give it to the oldest QUEUED start (None: nobody took it).

        With nobody in line the key stays pointed at ``leaving``; the next start sees it finished and
        takes the key.
        """
        where = and_(_K.kind == KIND, _K.workflow_name == workflow, _K.flow_key == key)
        holder = (await conn.execute(self._lock(select(_K.instance_id).where(where)))).scalar()
        if holder != leaving:
            return None
        return await self.promote_next(conn, workflow, key, now)

    async def promote_next(self, conn: AsyncConnection, workflow: str, key: str, now: datetime) -> str | None:
        """Make the oldest QUEUED start of the key runnable and its holder (the key row is locked)."""
        line = and_(_I.workflow_name == workflow, _I.singleton_key == key, _I.status == _QUEUED)
        oldest = select(_I.instance_id).where(line).order_by(_I.created_at, _I.instance_id).limit(1)
        for _ in range(PROMOTE_TRIES):
            candidate = (await conn.execute(oldest)).scalar()
            if candidate is None:
                return None
            probe = self._lock(select(_I.status).where(_I.instance_id == candidate))
            if (await conn.execute(probe)).scalar() != _QUEUED:
                continue  # it left the line meanwhile (cancelled, terminated): the next one
            values = {"status": InstanceStatus.PENDING.value, "wake_at": None, "updated_at": now}
            await conn.execute(update(INSTANCES).where(_I.instance_id == candidate).values(**values))
            where = and_(_K.kind == KIND, _K.workflow_name == workflow, _K.flow_key == key)
            await conn.execute(update(FLOW_KEYS).where(where).values(instance_id=candidate))
            await self._dialect.notify_wake(conn, [candidate])
            return str(candidate)
        raise StorageUnavailableError(f"singleton key {key!r}: its line kept changing during a hand-over")

    async def retake(self, conn: AsyncConnection, workflow: str, key: str, instance_id: str) -> str | None:
        """Give the key back to ``instance_id`` (a retried run) unless another unfinished instance holds it.

        Returns:
            None when ``instance_id`` holds the key now; else the unfinished holder (nothing written).
        """
        where = and_(_K.kind == KIND, _K.workflow_name == workflow, _K.flow_key == key)
        holder = (await conn.execute(self._lock(select(_K.instance_id).where(where)))).scalar()
        if holder == instance_id:
            return None
        if holder is None:
            row = {"kind": KIND, "workflow_name": workflow, "flow_key": key, "instance_id": instance_id}
            await conn.execute(insert(FLOW_KEYS).values(**row))
            return None
        status = (await conn.execute(select(_I.status).where(_I.instance_id == holder))).scalar()
        if status is not None and status not in _FINISHED:
            return str(holder)
        await conn.execute(update(FLOW_KEYS).where(where).values(instance_id=instance_id))
        return None

    async def line(self, workflow: str, key: str) -> list[str]:
        """The QUEUED starts of a key, next first (for status displays)."""
        line = and_(_I.workflow_name == workflow, _I.singleton_key == key, _I.status == _QUEUED)
        stmt = select(_I.instance_id).where(line).order_by(_I.created_at, _I.instance_id)
        async with self._conns.read() as conn:
            return [row[0] for row in (await conn.execute(stmt)).all()]

    async def holder(self, workflow: str, key: str) -> str | None:
        """The instance the key points at (it may have finished with nobody in line)."""
        where = and_(_K.kind == KIND, _K.workflow_name == workflow, _K.flow_key == key)
        async with self._conns.read() as conn:
            value = (await conn.execute(select(_K.instance_id).where(where))).scalar()
        return None if value is None else str(value)
