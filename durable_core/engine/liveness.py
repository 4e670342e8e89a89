"""The per-process liveness heartbeat: dead workers are detected in seconds, not after ``lease_ttl``.

A worker process keeps one row alive in ``edda_workers`` (see :mod:`durable_core.storage.liveness`):
every ``liveness_ttl / 5`` seconds it extends the row's expiry to *database* now + ``liveness_ttl``.
Once the row has expired, any worker may take over the process's instances at once (the takeover
bumps the lease epoch, so the old owner's writes stay fenced).

The heartbeat runs on a thread with its own event loop and its own connection, so neither a busy
app pool nor an event loop blocked by an activity makes a live process look dead.

Two live owners are never allowed: a beat sent at monotonic time ``t`` proves the row alive until at
least ``t + liveness_ttl`` (the database sets the expiry after receiving it), so the process treats
itself as alive only until ``t + 0.8 * liveness_ttl``. Past that, without a newer confirmed beat, it
*lapses*: its runs stop at their next step (``RunControl`` asks :meth:`Heartbeat.alive`), it claims
nothing, and before claiming again it frees every lease it still holds and revives its row in one
transaction. A beat never revives an expired row, so a process that was frozen (SIGSTOP, a VM
pause) longer than ``liveness_ttl`` lapses too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from durable_core.clock import monotonic
from durable_core.storage.base import LivenessStore, Storage

__all__ = ["BEATS_PER_TTL", "SAFE_FRACTION", "Heartbeat", "LivenessState", "heartbeat_for"]

logger = logging.getLogger("durable_core.engine")

#: heartbeats per ``liveness_ttl``
BEATS_PER_TTL: Final = 5
#: a confirmed beat keeps the process alive (locally) for this fraction of ``liveness_ttl``
SAFE_FRACTION: Final = 0.8
STOP_TIMEOUT_S: Final = 10.0


class LivenessState:
    """Until when this process may act as a live worker, on a monotonic clock (thread-safe reads).

    Args:
        ttl: the liveness TTL in seconds.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._alive_until = -math.inf
        self.lapsed = False

    def confirm(self, sent_at: float) -> None:
        """A beat sent at ``sent_at`` was confirmed by the database (ignored while lapsed)."""
        if not self.lapsed:
            self._alive_until = max(self._alive_until, sent_at + self.ttl * SAFE_FRACTION)

    def revived(self, sent_at: float) -> None:
        """The row was revived by a statement sent at ``sent_at`` (after the runs were stopped)."""
        self.lapsed = False
        self._alive_until = sent_at + self.ttl * SAFE_FRACTION

    def lapse(self) -> None:
        """Stop acting as alive until :meth:`revived`."""
        self.lapsed = True
        self._alive_until = -math.inf

    def alive(self) -> bool:
        """Whether the process may run steps and claim work now."""
        return not self.lapsed and self._clock() < self._alive_until

    def seconds_left(self) -> float:
        """Seconds until the process would lapse without another confirmed beat (negative: past)."""
        return self._alive_until - self._clock()


class Heartbeat:
    """Registers the worker, beats on a thread of its own, and reports lapses and revivals.

    Args:
        open_store: builds the heartbeat's store (called on the heartbeat thread).
        worker_id: the lease-owner id of this process.
        ttl: ``liveness_ttl`` in seconds.
        on_lapse: called on the app's loop when the process lapsed (stop every run, claim nothing).
        on_revive: called on the app's loop once the process is alive again (claim again).
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        open_store: Callable[[], LivenessStore],
        worker_id: str,
        ttl: float,
        *,
        on_lapse: Callable[[], None],
        on_revive: Callable[[], None],
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.state = LivenessState(ttl, clock)
        self._open_store = open_store
        self._worker_id = worker_id
        self._ttl = timedelta(seconds=ttl)
        self._on_lapse = on_lapse
        self._on_revive = on_revive
        self._clock = clock
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def alive(self) -> bool:
        """Whether this process may run steps and claim work now."""
        return self.state.alive()

    async def start(self) -> None:
        """Start the thread and return once the worker's row is registered.

        Raises:
            StorageUnavailableError: the database could not be reached to register.
        """
        self._app_loop = asyncio.get_running_loop()
        registered: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(registered)), name="edda-liveness", daemon=True
        )
        self._thread.start()
        try:
            await asyncio.wrap_future(registered)
        except BaseException:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
            raise

    async def stop(self) -> None:
        """Declare this worker dead (its leases were released by then) and end the thread."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is None or stop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the thread's loop already ended
            loop.call_soon_threadsafe(stop.set)
        await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
        self._thread = None

    # -- on the heartbeat thread ---------------------------------------------------------------------
    async def _serve(self, registered: concurrent.futures.Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            store = self._open_store()
        except BaseException as exc:
            registered.set_exception(exc)
            return
        try:
            sent = self._clock()
            await store.register(self._worker_id, self._ttl)
            self.state.confirm(sent)
        except BaseException as exc:
            registered.set_exception(exc)
            await store.close()
            return
        registered.set_result(None)
        try:
            await self._beat_until_stopped(store)
            with contextlib.suppress(Exception):  # if this fails, the row simply expires
                await store.retire(self._worker_id)
        finally:
            await store.close()

    async def _beat_until_stopped(self, store: LivenessStore) -> None:
        assert self._stop is not None
        interval = self.state.ttl / BEATS_PER_TTL
        while not self._stop.is_set():
            wait = interval if self.state.lapsed else min(interval, max(0.0, self.state.seconds_left()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            if self._stop.is_set():
                return
            if self.state.lapsed:
                await self._revive(store)
            elif not self.state.alive():
                await self._lapse("no heartbeat was confirmed in time")
            else:
                await self._beat(store)

    async def _beat(self, store: LivenessStore) -> None:
        sent = self._clock()
        try:
            alive = await asyncio.wait_for(
                store.beat(self._worker_id, self._ttl), max(0.05, self.state.seconds_left())
            )
        except Exception as exc:  # unreachable, timed out, locked: the next beat may get through
            logger.warning("liveness heartbeat of %s failed: %s", self._worker_id, exc or type(exc).__name__)
            return
        if alive:
            self.state.confirm(sent)
        else:
            await self._lapse("the database already declared this worker dead")

    async def _lapse(self, why: str) -> None:
        """Stop acting as alive and wait until the app's loop has stopped every run."""
        self.state.lapse()
        logger.warning("worker %s lapsed (%s); stopping its runs", self._worker_id, why)
        done = self._on_app_loop(self._on_lapse)
        if done is None or self._stop is None:
            return
        stopping = asyncio.ensure_future(self._stop.wait())  # the app may be shutting down meanwhile
        ran = asyncio.wrap_future(done)
        await asyncio.wait((stopping, ran), return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopping, ran):
            waiter.cancel()
        await asyncio.gather(stopping, ran, return_exceptions=True)

    async def _revive(self, store: LivenessStore) -> None:
        sent = self._clock()
        try:
            freed = await store.revive(self._worker_id, self._ttl)
        except Exception as exc:
            logger.warning("worker %s could not revive its liveness row yet: %s", self._worker_id, exc)
            return
        self.state.revived(sent)
        logger.warning("worker %s is alive again; freed %d lease(s) it held", self._worker_id, freed)
        self._on_app_loop(self._on_revive)

    def _on_app_loop(self, callback: Callable[[], None]) -> concurrent.futures.Future[None] | None:
        """Schedule ``callback`` on the app's loop; a future set once it ran (None: that loop is gone)."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                callback()
            finally:
                done.set_result(None)

        assert self._app_loop is not None
        try:
            self._app_loop.call_soon_threadsafe(run)
        except RuntimeError:
            return None
        return done


def heartbeat_for(
    storage: Storage | None,
    worker_id: str,
    ttl: float | None,
    *,
    on_lapse: Callable[[], None],
    on_revive: Callable[[], None],
) -> Heartbeat | None:
    """The heartbeat of a worker app on ``storage`` (None: no workers, ``ttl`` None, or a one-process database)."""
    factory = storage.liveness_factory() if storage is not None and ttl is not None else None
    if factory is None or ttl is None:
        return None
    return Heartbeat(factory, worker_id, ttl, on_lapse=on_lapse, on_revive=on_revive)
