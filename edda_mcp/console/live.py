"""Live pages: a server-sent-event stream per open page that says "changed" when what it shows changed.

What wakes the streams up: the engine's change listener (runs in this process ending or parking), the
database's wake notifications (PostgreSQL LISTEN: another process made an instance runnable), and the
console's own actions. Each wake-up - or, without any, every ``poll_interval`` seconds, which covers
databases without notifications - a stream recomputes a small fingerprint of its page (the instance's
status and update time; the listed rows; the cached counts) and sends ``changed`` when it differs. The
page then fetches itself again and swaps its content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from typing import Any

from durable_core import EddaApp

__all__ = ["ChangeHub", "event_stream"]

logger = logging.getLogger("edda_mcp.console")

Fingerprint = Callable[[], Awaitable[Hashable]]


class ChangeHub:
    """A version number that goes up on every change notification, with waiters.

    Args:
        app: the engine whose local runs and database notifications are watched.
    """

    def __init__(self, app: EddaApp) -> None:
        self._app = app
        self._version = 0
        self._changed = asyncio.Event()
        self._listener: Any = None
        self._started = False
        self._closing = False

    def is_closing(self) -> bool:
        """Set by :meth:`stop`: open streams end."""
        return self._closing

    def start(self) -> None:
        """Start listening (idempotent; call it in the event loop that serves the streams)."""
        if self._started:
            return
        self._started = True
        self._app.add_change_listener(self._on_instance)
        try:
            self._listener = self._app.storage.wake_listener(self._on_ids, self.bump)
        except Exception:  # no notifications here: the poll fallback covers it
            logger.warning("database change notifications unavailable; polling", exc_info=True)
            self._listener = None
        if self._listener is not None:
            self._listener.start()

    async def stop(self) -> None:
        """Stop listening and end every open stream."""
        self._closing = True
        self.bump()
        if self._started:
            self._app.remove_change_listener(self._on_instance)
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()

    def _on_instance(self, _instance_id: str) -> None:
        self.bump()

    def _on_ids(self, _ids: list[str]) -> None:
        self.bump()

    def bump(self) -> None:
        """Something changed: wake every stream."""
        self._version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Return at the next change, or after ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


_FAILED = object()


async def _safely(fingerprint: Fingerprint) -> Hashable:
    """The fingerprint, or a marker when it cannot be read now (database briefly down, instance purged)."""
    try:
        return await fingerprint()
    except Exception:
        logger.warning("live update check failed", exc_info=True)
        return _FAILED


async def event_stream(
    hub: ChangeHub, fingerprint: Fingerprint, *, poll_interval: float, max_seconds: float = 300.0
) -> AsyncGenerator[str, None]:
    """SSE text: ``changed`` whenever ``fingerprint()`` differs, comments as keep-alives.

    The stream ends after ``max_seconds`` (the browser reconnects on its own), so no connection is held
    forever by a server that is shutting down.
    """
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + max_seconds
    last = await _safely(fingerprint)
    yield "retry: 1000\n: connected\n\n"
    quiet = 0.0
    while not hub.is_closing() and loop.time() < ends_at:
        started = loop.time()
        await hub.wait(poll_interval)
        if hub.is_closing():
            break
        now = await _safely(fingerprint)
        if now is _FAILED:
            continue
        if now != last:
            last = now
            quiet = 0.0
            yield "event: changed\ndata: {}\n\n"
            continue
        quiet += loop.time() - started
        if quiet >= 15.0:
            quiet = 0.0
            yield ": keep-alive\n\n"
