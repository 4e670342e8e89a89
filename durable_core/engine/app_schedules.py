"""The schedules part of :class:`~durable_core.engine.app.EddaApp` (a mixin): ``app.schedules`` and its loop.

Kept apart so the app module stays within its size budget.
"""

from __future__ import annotations

from durable_core.engine.dispatcher import Dispatcher
from durable_core.engine.schedule_loop import ScheduleLoop
from durable_core.engine.schedules import Schedules
from durable_core.engine.services import EngineServices
from durable_core.engine.waiters import ResultWaiters
from durable_core.errors import EddaError

__all__ = ["RECHECK_POLLS", "SchedulesAPI"]

#: without a NOTIFY listener, the schedule loop re-reads the earliest fire time every this many poll
#: intervals (5 s with the default ``poll_interval`` of 1 s) to learn about changes made elsewhere
RECHECK_POLLS = 5


class SchedulesAPI:
    """``app.schedules`` and the timer loop that fires their ticks (in apps that run workers)."""

    service_name: str
    _services: EngineServices
    _dispatcher: Dispatcher
    _waiters: ResultWaiters
    _run_workers: bool
    _initialized: bool
    _schedules_api: Schedules | None = None
    _schedule_loop: ScheduleLoop | None = None

    @property
    def schedules(self) -> Schedules:
        """Create, change, pause, list and trigger the schedules stored in this app's database.

        Raises:
            EddaError: the app is not initialized (``await app.initialize()`` or ``async with app``).
        """
        if not self._initialized:
            raise EddaError(
                "EddaApp is not initialized; call `await app.initialize()` or use `async with app:`"
            )
        return self._schedules_client()

    def _schedules_client(self) -> Schedules:
        if self._schedules_api is None:
            self._schedules_api = Schedules(self._services, self.service_name, self._schedule_changed)
        return self._schedules_api

    def _schedule_changed(self) -> None:
        if self._schedule_loop is not None:
            self._schedule_loop.poke()

    async def _start_schedules(self) -> None:
        """Sync the ``@workflow(schedule=...)`` schedules, then (running workers) start the timer loop."""
        try:
            await self._schedules_client().sync_declared()
        except BaseException:  # the app does not start: leave no connection open behind it
            await self._services.storage.close()
            raise
        if self._run_workers and self._schedule_loop is None:
            self._schedule_loop = ScheduleLoop(
                self._schedules_client(),
                self._services.storage,
                self._services.clock,
                self._waiters,
                recheck=self._dispatcher.poll_interval * RECHECK_POLLS,
                running_here=self._dispatcher.owns,
            )
            self._schedule_loop.start()

    async def _stop_schedules(self) -> None:
        loop, self._schedule_loop = self._schedule_loop, None
        if loop is not None:
            await loop.stop()
