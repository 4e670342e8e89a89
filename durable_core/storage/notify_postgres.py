"""PostgreSQL wake-ups across processes: ``LISTEN edda_wake`` on one dedicated connection.

Senders call ``pg_notify('edda_wake', '<id>,<id>,...')`` inside the transaction that makes instances
runnable (see :meth:`SqlDialect.notify_wake`), so a notification is delivered exactly when - and only if
- the change is committed. The listener hands the ids to the dispatcher, which claims them at once.
Notifications sent while the listener is disconnected are lost by PostgreSQL; after every (re)connect
the listener asks for one fallback poll, and the dispatcher's bounded poll covers the rest.

This is the only module that uses asyncpg's own API (LISTEN), on a connection SQLAlchemy opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

from durable_core.storage.connections import Connections
from durable_core.storage.dialects import WAKE_CHANNEL

__all__ = ["PostgresWakeListener"]

logger = logging.getLogger("durable_core.storage")
_MAX_BACKOFF: Final = 5.0


class PostgresWakeListener:
    """Listens for wake-up notifications and reports the instance ids to ``on_ids``.

    Args:
        conns: the storage's connections (the listener holds one of them while it runs).
        on_ids: called (in the event loop) with the ids of every notification.
        on_connected: called after each (re)connect, to poll for what may have been missed.
        channel: the NOTIFY channel (wake-ups by default; output streams use their own).
    """

    def __init__(
        self,
        conns: Connections,
        on_ids: Callable[[list[str]], None],
        on_connected: Callable[[], None],
        channel: str = WAKE_CHANNEL,
    ) -> None:
        self._conns = conns
        self._channel = channel
        self._on_ids = on_ids
        self._on_connected = on_connected
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        """Start listening in the background (reconnecting with backoff after failures)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="edda-pg-listener")

    async def stop(self) -> None:
        """Stop listening and return the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        ids = [part for part in payload.split(",") if part]
        if ids:
            self._on_ids(ids)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with self._conns.engine.connect() as conn:
                    raw: Any = (await conn.get_raw_connection()).driver_connection
                    lost = asyncio.Event()
                    raw.add_termination_listener(lambda _c, lost=lost: lost.set())
                    await raw.add_listener(self._channel, self._notified)
                    self.connected.set()
                    backoff = 0.1
                    self._on_connected()
                    try:
                        while not lost.is_set() and not raw.is_closed():
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(lost.wait(), 5.0)
                    finally:
                        self.connected.clear()
                        if not raw.is_closed():
                            with contextlib.suppress(Exception):
                                await raw.remove_listener(self._channel, self._notified)
                logger.warning("the PostgreSQL wake-up listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused/lost, server restart: keep trying
                logger.warning("PostgreSQL wake-up listener failed (%s); retrying in %.1fs", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
