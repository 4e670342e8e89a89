"""Aggregate reads for operators (metrics, console, CLI): instance counts and pending outbox rows.

Each is one ``GROUP BY`` / ``COUNT`` statement on a read connection; callers cache the answers (a metrics
scrape must not scan a large table each time).
"""

from __future__ import annotations

from sqlalchemy import func, select

from durable_core.observers import InstanceCount
from durable_core.storage.base import StatsStore
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.schema import INSTANCES, OUTBOX
from durable_core.types import InstanceStatus, OutboxStatus

__all__ = ["SqlStats"]

_I = INSTANCES.c
_O = OUTBOX.c


class SqlStats(StatsStore):
    """Counts over the tables of one database."""

    def __init__(self, conns: Connections) -> None:
        self._conns = conns

    @guarded()
    async def count_instances(self) -> list[InstanceCount]:
        """Stored instances per (workflow, status), ordered by workflow then status; empty groups omitted.

        An index-only scan of ``ix_edda_instances_workflow_status`` (migration v13) on every database,
        not a table scan: the metrics gauge reads it every few seconds.
        """
        stmt = (
            select(_I.workflow_name, _I.status, func.count())
            .group_by(_I.workflow_name, _I.status)
            .order_by(_I.workflow_name, _I.status)
        )
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [InstanceCount(name, InstanceStatus(status), int(n)) for name, status, n in rows]

    @guarded()
    async def count_outbox(self, status: OutboxStatus) -> int:
        """Outbox rows in ``status``."""
        stmt = select(func.count()).select_from(OUTBOX).where(_O.status == OutboxStatus(status).value)
        async with self._conns.read() as conn:
            return int((await conn.execute(stmt)).scalar_one())
