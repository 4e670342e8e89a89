"""Change feed: engine hooks that wake local waiters and announce instance changes.

The server installs a :class:`ChangeFeed` as the app's hooks (forwarding to the user's own hooks), so a
bounded wait in a start tool can report each completed step at once instead of polling, and the
instance resources can announce updates. Changes made by another process are found by polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("edda_mcp")

ChangeListener = Callable[[str], Awaitable[None]]


class ChangeFeed:
    """Hooks object: wakes per-instance listeners and calls change callbacks; forwards to ``inner``."""

    def __init__(self, inner: object | None = None) -> None:
        self._inner = inner
        self._events: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._callbacks: list[ChangeListener] = []

    def on_change(self, callback: ChangeListener) -> None:
        """Call ``callback(instance_id)`` after every step or end of an instance run here."""
        self._callbacks.append(callback)

    @contextmanager
    def watch(self, instance_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``instance_id`` records a step or ends (clear it after each wake)."""
        event = asyncio.Event()
        self._events[instance_id].add(event)
        try:
            yield event
        finally:
            listeners = self._events.get(instance_id)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._events[instance_id]

    async def _changed(self, instance_id: str) -> None:
        for event in self._events.get(instance_id, ()):
            event.set()
        for callback in self._callbacks:
            try:
                await callback(instance_id)
            except Exception:
                logger.exception("change callback for %s failed", instance_id)

    async def _forward(self, method: str, *args: Any) -> None:
        fn = getattr(self._inner, method, None) if self._inner is not None else None
        if fn is not None:
            await fn(*args)

    # -- WorkflowHooks -------------------------------------------------------------------------
    async def on_workflow_start(
        self, instance_id: str, workflow_name: str, input_data: dict[str, Any]
    ) -> None:
        """Forwarded; announces the change."""
        await self._changed(instance_id)
        await self._forward("on_workflow_start", instance_id, workflow_name, input_data)

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        """Forwarded; announces the change."""
        await self._changed(instance_id)
        await self._forward("on_workflow_complete", instance_id, workflow_name, result)

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        """Forwarded; announces the change."""
        await self._changed(instance_id)
        await self._forward("on_workflow_failed", instance_id, workflow_name, error)

    async def on_workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
        """Forwarded; announces the change."""
        await self._changed(instance_id)
        await self._forward("on_workflow_cancelled", instance_id, workflow_name)

    async def on_activity_start(
        self, instance_id: str, activity_id: str, activity_name: str, is_replaying: bool
    ) -> None:
        """Forwarded."""
        await self._forward("on_activity_start", instance_id, activity_id, activity_name, is_replaying)

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """Forwarded; announces the change (live steps only)."""
        if not cache_hit:
            await self._changed(instance_id)
        await self._forward(
            "on_activity_complete", instance_id, activity_id, activity_name, result, cache_hit
        )

    async def on_activity_failed(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception
    ) -> None:
        """Forwarded."""
        await self._forward("on_activity_failed", instance_id, activity_id, activity_name, error)

    async def on_activity_retry(
        self,
        instance_id: str,
        activity_id: str,
        activity_name: str,
        error: Exception,
        attempt: int,
        delay: float,
    ) -> None:
        """Forwarded."""
        await self._forward(
            "on_activity_retry", instance_id, activity_id, activity_name, error, attempt, delay
        )
