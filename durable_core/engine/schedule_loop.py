"""The schedules' timer loop: sleeps until the earliest due tick, fires what is due, sleeps again.

It sleeps on the app's clock until the earliest ``next_fire_at`` of the unpaused schedules of the
workflows this process serves - not on a fixed period. What wakes it earlier:

* a change made in this process (``poke``);
* on PostgreSQL, a change made by any process: it is announced with ``NOTIFY`` in the committing
  transaction, and this loop listens on the wake channel;
* a bounded re-check that re-reads the earliest fire time (a one-row indexed query), to learn about
  changes made elsewhere: every ``recheck`` seconds without a NOTIFY listener (SQLite, MySQL), and
  every ``LISTENING_RECHECK`` seconds while one is connected (the safety net for a lost notification).

Several processes may wake for the same tick; firing locks the schedule's row and checks it is still
due, so one of them starts the tick's instance and the others find nothing to do.

A schedule held back by ``Overlap.BUFFER_ONE`` is watched: when the instance it waits for finishes
(pushed when it ran here, else polled with a back-off of at most 1 s), the buffered tick starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Final

from durable_core.clock import Clock
from durable_core.engine.clock_wait import sleep_or_event
from durable_core.engine.schedules import Schedules
from durable_core.engine.waiters import ResultWaiters
from durable_core.errors import EddaError, InstanceNotFoundError, StorageUnavailableError
from durable_core.storage.base import Storage, WakeListener
from durable_core.storage.schedules import SCHEDULES_CHANGED

__all__ = ["LISTENING_RECHECK", "ScheduleLoop"]

logger = logging.getLogger("durable_core.schedules")

#: seconds between re-checks while a PostgreSQL NOTIFY listener is connected
LISTENING_RECHECK: Final = 60.0
_BATCH: Final = 100


class ScheduleLoop:
    """Fires the due ticks of the schedules of the workflows this process serves.

    Args:
        schedules: the app's schedules API (fires through it).
        storage: the app's storage.
        clock: the app's clock.
        waiters: the app's result waiters (a buffered tick waits for the running instance through them).
        recheck: seconds between re-reads of the earliest fire time without a NOTIFY listener.
        running_here: whether an instance runs in this process now (its end is then pushed).
    """

    def __init__(
        self,
        schedules: Schedules,
        storage: Storage,
        clock: Clock,
        waiters: ResultWaiters,
        recheck: float,
        running_here: Callable[[str], bool],
    ) -> None:
        self._schedules = schedules
        self._storage = storage
        self._clock = clock
        self._waiters = waiters
        self._recheck = recheck
        self._running_here = running_here
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: WakeListener | None = None
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._failed: set[str] = set()  # fired with an error: left alone until the next re-check

    def poke(self) -> None:
        """A schedule changed: read the earliest fire time again now."""
        self._changed.set()

    def start(self) -> None:
        """Start the loop (and, on PostgreSQL, listen for changes made by other processes)."""
        self._listener = self._storage.wake_listener(self._notified, self.poke)
        if self._listener is not None:
            self._listener.start()
        self._task = asyncio.create_task(self._run(), name="edda-schedules")

    async def stop(self) -> None:
        """Stop the loop, its listener and its watchers."""
        tasks = [t for t in (self._task, *self._watchers.values()) if t is not None]
        self._task, self._watchers = None, {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None

    def _notified(self, ids: list[str]) -> None:
        if SCHEDULES_CHANGED in ids:
            self.poke()

    @property
    def _period(self) -> float:
        connected = getattr(self._listener, "connected", None)
        if isinstance(connected, asyncio.Event) and connected.is_set():
            return LISTENING_RECHECK
        return self._recheck

    async def _run(self) -> None:
        backoff = 0.05
        upcoming: list[tuple[str, datetime]] = []  # the earliest schedules as last read
        while True:
            self._changed.clear()  # before reading, so a change during the read is not missed
            try:
                # What the last read said is due now fires without another read; firing re-checks
                # each row under its lock, so a row changed meanwhile is simply not fired.
                now = self._clock.now()
                await self._fire([sid for sid, at in upcoming if at <= now and sid not in self._failed])
                upcoming = await self._pass()
            except StorageUnavailableError as exc:
                logger.warning(
                    "storage unavailable in the schedule loop (%s); retrying in %.2fs", exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._recheck)
                continue
            backoff = 0.05
            pending = [at for sid, at in upcoming if sid not in self._failed]
            delay = (min(pending) - self._clock.now()).total_seconds() if pending else None
            if delay is not None and delay <= 0:
                continue  # due now (fired meanwhile elsewhere, or became due): fire it
            await self._wait(delay)

    async def _pass(self) -> list[tuple[str, datetime]]:
        """Watch buffered schedules; return the earliest unpaused schedules with their fire times."""
        names = self._schedules.catalog.names()
        store = self._storage.schedules()
        for schedule_id, instance_id in await store.buffered(names):
            if schedule_id not in self._watchers:
                self._watch(schedule_id, instance_id)
        return await store.upcoming(names, _BATCH)

    async def _fire(self, due: list[str]) -> None:
        """Fire these schedules: in one transaction, or one by one when that fails (to isolate it)."""
        if not due:
            return
        try:
            await self._schedules.fire_due(due)
            return
        except StorageUnavailableError:
            raise
        except (EddaError, ValueError, TypeError):
            pass  # one of them cannot start: find which
        for schedule_id in due:
            try:
                await self._schedules.fire_due([schedule_id])
            except StorageUnavailableError:
                raise
            except (EddaError, ValueError, TypeError) as exc:
                # e.g. its stored args no longer fit the workflow: log, and try again at the re-check
                self._failed.add(schedule_id)
                logger.error("schedule %s could not start its tick: %s", schedule_id, exc)

    async def _wait(self, delay: float | None) -> None:
        """Wait ``delay`` seconds of clock time (None: none), a change, or the re-check period."""
        if not await sleep_or_event(self._clock, self._changed, delay, self._period):
            self._failed.clear()  # the re-check: try failing schedules again

    def _watch(self, schedule_id: str, instance_id: str | None) -> None:
        async def watch() -> None:
            try:
                if instance_id is not None:
                    with contextlib.suppress(InstanceNotFoundError):  # purged: certainly not running
                        await self._waiters.wait_finished(
                            self._storage,
                            instance_id,
                            None,
                            running_here=lambda: self._running_here(instance_id),
                        )
                await self._schedules.fire_due([schedule_id])
            except Exception as exc:
                logger.warning("schedule %s: could not start its buffered tick: %s", schedule_id, exc)
            finally:
                self._watchers.pop(schedule_id, None)

        self._watchers[schedule_id] = asyncio.create_task(watch(), name=f"edda-schedule-buffer-{schedule_id}")
