"""Code-version bookkeeping: which ``EddaApp(version=...)`` ran an instance last."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from durable_core.storage import leases
from durable_core.storage.base import EvolutionStore
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.schema import INSTANCES
from durable_core.types import Lease

__all__ = ["SqlEvolution"]


class SqlEvolution(EvolutionStore):
    """Writes ``edda_instances.last_run_version``."""

    def __init__(self, conns: Connections) -> None:
        self._conns = conns

    @guarded()
    async def note_run_version(self, lease: Lease, version: str | None, now: datetime) -> bool:
        """Set the version of the worker running the instance (fenced); False when the lease is lost."""
        stmt = update(INSTANCES).where(leases.fence(lease)).values(last_run_version=version, updated_at=now)
        async with self._conns.write() as conn:
            return (await conn.execute(stmt)).rowcount == 1
