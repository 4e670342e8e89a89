"""The only place that reads wall time. Inject :class:`FakeClock` in tests to skip time."""

from __future__ import annotations

import abc
import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta


class Clock(abc.ABC):
    """Source of time for the engine: wall time for records, and sleeping for backoff and timers."""

    @abc.abstractmethod
    def now(self) -> datetime:
        """Current time as an aware UTC datetime."""

    @abc.abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of this clock's time."""


class SystemClock(Clock):
    """Real time."""

    def now(self) -> datetime:
        """Current wall time (UTC)."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep in real time."""
        await asyncio.sleep(max(0.0, seconds))


class FakeClock(Clock):
    """A clock that only moves when told to; sleepers wake when time is advanced past their deadline.

    Args:
        start: initial time (defaults to 2030-01-01 UTC so tests never depend on the real date).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._sleeper_added = asyncio.Event()

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Block until :meth:`advance` moves time past now + ``seconds``."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + timedelta(seconds=seconds), next(self._seq), future))
        self._sleeper_added.set()
        await future

    @property
    def sleeper_count(self) -> int:
        """How many coroutines are sleeping on this clock right now."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def wait_for_sleepers(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait (in real time, bounded) until at least ``count`` coroutines sleep on this clock."""
        async with asyncio.timeout(timeout):
            while self.sleeper_count < count:
                self._sleeper_added.clear()
                await self._sleeper_added.wait()

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now += timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


def monotonic() -> float:
    """Monotonic seconds for measuring durations (never recorded)."""
    return time.monotonic()
