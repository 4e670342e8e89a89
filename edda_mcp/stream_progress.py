"""Output-stream chunks as ``notifications/progress`` while a start/result tool call waits.

Every notification of one call (a completed step, or a stream chunk) takes the next progress number, so
progress always increases, as the MCP spec requires. A chunk's notification carries the chunk as text in
``message``; chunks of attempts already known to be abandoned and CLOSE markers are not sent. Each wait
forwards the streams from their start (a later ``_result`` call shows what was written so far, then goes
on live); the ``edda://instances/{id}/streams/{name}`` resource returns a whole stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from durable_core import ChunkKind, ChunkStatus, EddaApp, EddaError

__all__ = ["DRAIN_SECONDS", "ProgressReporter", "forwarding_streams"]

#: at most this long, a call whose run finished waits for the last chunks to go out as progress
DRAIN_SECONDS: Final = 5.0

logger = logging.getLogger("edda_mcp")


class ProgressReporter:
    """Numbers the progress notifications of one tool call (steps and chunks share the sequence).

    Chunks are read whether or not the caller sent a progress token: the in-memory dispatcher reports
    progress to a callback without one, and ``report_progress`` is a no-op when nobody listens.
    """

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self._count = 0
        self._lock = asyncio.Lock()
        self.chunks_sent = 0

    async def send(self, message: str) -> None:
        """Send the next progress notification with ``message`` (a no-op without a progress token)."""
        async with self._lock:
            self._count += 1
            await self._ctx.report_progress(self._count, None, message)


@contextlib.asynccontextmanager
async def forwarding_streams(
    app: EddaApp, instance_id: str, reporter: ProgressReporter
) -> AsyncIterator[None]:
    """While the block runs, send each chunk of the instance's streams as a progress notification."""
    task = asyncio.create_task(
        _forward(app, instance_id, reporter), name=f"edda-stream-progress-{instance_id}"
    )
    try:
        yield
        if (await app.get_instance(instance_id)).status.is_finished:
            # the run is over: its follower ends by itself once the last chunks are sent
            await asyncio.wait({task}, timeout=DRAIN_SECONDS)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _forward(app: EddaApp, instance_id: str, reporter: ProgressReporter) -> None:
    try:
        async for chunk in app.follow_streams(instance_id):
            if chunk.kind is ChunkKind.DATA and chunk.status is not ChunkStatus.ABANDONED:
                await reporter.send(chunk.text)
                reporter.chunks_sent += 1
    except EddaError as exc:  # the wait itself reports what is wrong; progress is best effort
        logger.warning("stopped forwarding the streams of %s as progress: %s", instance_id, exc)
