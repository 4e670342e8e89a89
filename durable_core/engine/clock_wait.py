"""Waiting for whichever comes first: a span of the app's clock, an event, or a real-time bound."""

from __future__ import annotations

import asyncio
from typing import Any

from durable_core.clock import Clock

__all__ = ["sleep_or_event"]


async def sleep_or_event(clock: Clock, event: asyncio.Event, delay: float | None, bound: float) -> bool:
    """Wait ``delay`` seconds of ``clock`` time (None: none), until ``event`` is set, or ``bound`` s.

    Whichever comes first ends the wait. The clock wait matters with a ``FakeClock`` (tests skip time); the real-time bound makes loops
    re-read shared state now and then.

    Returns:
        False when only the real-time bound passed.
    """
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(event.wait())]
    if delay is not None:
        waits.append(asyncio.ensure_future(clock.sleep(delay)))
    try:
        done, _ = await asyncio.wait(waits, timeout=bound, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for waiter in waits:
            waiter.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
