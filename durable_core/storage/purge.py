"""Deleting finished instances with everything stored for them (retention, ``edda-mcp instances purge``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.sql.selectable import Select

from durable_core.storage.connections import Connections
from durable_core.storage.schema import INSTANCE_CHILD_TABLES, INSTANCES, MESSAGES
from durable_core.types import FINISHED_STATUSES, InstanceStatus

__all__ = ["PURGE_BATCH", "purge_finished"]

#: instances deleted per transaction
PURGE_BATCH: Final = 200

_I = INSTANCES.c


async def purge_finished(
    conns: Connections,
    lock_rows: Callable[..., Select[Any]],
    finished_before: datetime,
    limit: int,
    statuses: frozenset[InstanceStatus] | None,
) -> int:
    """Delete up to ``limit`` finished instances older than the cut-off, with all stored for them.

    One transaction per batch of :data:`PURGE_BATCH`: history, attempts, waits, messages, the row.

    Args:
        conns: the storage's connections.
        lock_rows: the storage's ``_lock_rows(stmt, skip_locked=...)`` (dialect-specific locking).
        finished_before: the cut-off.
        limit: most instances deleted.
        statuses: finished statuses to delete (None: all of them).
    """
    wanted = sorted(s.value for s in (FINISHED_STATUSES if statuses is None else statuses))
    purged = 0
    while purged < limit:
        batch = min(PURGE_BATCH, limit - purged)
        stmt = (
            select(_I.instance_id)
            .where(_I.status.in_(wanted), _I.finished_at < finished_before)
            .order_by(_I.finished_at, _I.instance_id)
            .limit(batch)
        )
        async with conns.write() as conn:
            # Wait for (never skip) row locks: a finished row is only ever locked briefly (e.g. by a
            # claim scan passing over it), and skipping it made a purge miss rows it should delete.
            ids = [row[0] for row in (await conn.execute(lock_rows(stmt, skip_locked=False))).all()]
            if not ids:
                break
            for table in INSTANCE_CHILD_TABLES:
                await conn.execute(delete(table).where(table.c.instance_id.in_(ids)))
            await conn.execute(delete(MESSAGES).where(MESSAGES.c.target_instance_id.in_(ids)))
            await conn.execute(delete(INSTANCES).where(_I.instance_id.in_(ids)))
        purged += len(ids)
        if len(ids) < batch:
            break
    return purged
