"""Retention by policy: periodic purging of finished work.

Finished instances (with their history) and delivered outbox rows are deleted once they are older than
the policy allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from durable_core.clock import Clock
from durable_core.errors import ConfigurationError, StorageUnavailableError

logger = logging.getLogger("durable_core.engine")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long finished work is kept.

    Args:
        keep_finished: finished instances (completed, failed, cancelled) are deleted, with their history,
            this long after they finished; delivered outbox rows this long after they were created.
            Unfinished and blocked instances are never purged.
        interval: seconds between purges (on the app's clock).
        batch: rows deleted per statement batch; a purge repeats batches until nothing is left.
    """

    keep_finished: timedelta
    interval: float = 3600.0
    batch: int = 1000

    def __post_init__(self) -> None:
        if self.keep_finished <= timedelta(0):
            raise ConfigurationError(f"keep_finished must be positive, got {self.keep_finished}")
        if self.interval <= 0 or self.batch < 1:
            raise ConfigurationError("RetentionPolicy needs interval > 0 and batch >= 1")


class RetentionLoop:
    """Runs ``purge(older_than, limit) -> deleted`` every ``policy.interval`` until stopped."""

    def __init__(
        self, policy: RetentionPolicy, clock: Clock, purges: list[Callable[[timedelta, int], Awaitable[int]]]
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._purges = purges
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start purging in the background."""
        self._task = asyncio.create_task(self._loop(), name="edda-retention")

    async def stop(self) -> None:
        """Stop the background purge."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def purge_once(self) -> int:
        """Purge everything the policy allows now; returns how many rows were deleted."""
        total = 0
        for purge in self._purges:
            while True:
                deleted = await purge(self._policy.keep_finished, self._policy.batch)
                total += deleted
                if deleted < self._policy.batch:
                    break
        return total

    async def _loop(self) -> None:
        while True:
            try:
                deleted = await self.purge_once()
                if deleted:
                    logger.info("retention purged %d finished row(s)", deleted)
            except StorageUnavailableError as exc:
                logger.warning("retention purge skipped: %s", exc)
            await self._clock.sleep(self._policy.interval)
