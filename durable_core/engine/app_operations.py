"""The operator part of :class:`~durable_core.engine.app.EddaApp`'s API (a mixin): counts, load, purge.

What metrics, the console and the CLI read besides single instances: the app's engine observers, how
busy its dispatcher is, instance and outbox counts, a purge that can be narrowed to some statuses, and
(inherited from :class:`~durable_core.engine.app_outbox.OutboxAPI`) the outbox rows. Kept apart so the
app module stays within its size budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from durable_core.clock import Clock
from durable_core.engine.app_outbox import OutboxAPI
from durable_core.engine.dispatcher import Dispatcher
from durable_core.engine.services import EngineServices
from durable_core.errors import InputValidationError
from durable_core.observers import DispatcherLoad, InstanceCount, Observers
from durable_core.storage.base import Storage
from durable_core.types import FINISHED_STATUSES, InstanceStatus, OutboxStatus

__all__ = ["OperationsAPI"]


class OperationsAPI(OutboxAPI):
    """Observers, dispatcher load, counts and a status-filtered purge."""

    _storage: Storage
    _clock: Clock
    _services: EngineServices
    _dispatcher: Dispatcher
    _run_workers: bool

    @property
    def observers(self) -> Observers:
        """The engine observers of this app: ``app.observers.add(obs)`` (see :mod:`durable_core.observers`)."""
        return self._services.observers

    def dispatcher_load(self) -> DispatcherLoad:
        """Instances this process runs now, and its ``max_concurrent_runs`` (0 without workers)."""
        if not self._run_workers:
            return DispatcherLoad(running=0, capacity=0)
        return DispatcherLoad(running=len(self._dispatcher.running), capacity=self._dispatcher.capacity)

    async def count_instances(self) -> list[InstanceCount]:
        """Stored instances per (workflow, status), one aggregate query; empty groups are omitted."""
        return await self._storage.stats().count_instances()

    async def count_outbox(self, status: OutboxStatus = OutboxStatus.PENDING) -> int:
        """Outbox rows in ``status`` (default: not delivered yet)."""
        return await self._storage.stats().count_outbox(OutboxStatus(status))

    async def purge_instances(
        self,
        older_than: timedelta,
        *,
        statuses: Iterable[InstanceStatus] | None = None,
        limit: int = 1000,
    ) -> int:
        """Delete finished instances (with their history) that finished more than ``older_than`` ago.

        Args:
            older_than: keep instances that finished more recently than this.
            statuses: only these finished statuses (default: completed, failed and cancelled).
            limit: delete at most this many.

        Raises:
            InputValidationError: a status that is not a finished one, or a negative age.
        """
        if older_than < timedelta(0):
            raise InputValidationError(f"older_than must not be negative, got {older_than}")
        wanted = None if statuses is None else frozenset(InstanceStatus(s) for s in statuses)
        if wanted is not None and not wanted <= FINISHED_STATUSES:
            unfinished = ", ".join(sorted(s.value for s in wanted - FINISHED_STATUSES))
            raise InputValidationError(f"only finished instances can be purged, not: {unfinished}")
        return await self._storage.purge_finished(self._clock.now() - older_than, limit, wanted)
