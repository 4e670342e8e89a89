"""The server ``streams.py`` measures: one durable tool that streams timestamped chunks."""

from __future__ import annotations

import asyncio
import time

from durable_core import WorkflowContext, activity
from edda_mcp import EddaMCPServer

server = EddaMCPServer("stream-bench", start_wait_seconds=120, poll_interval=0.05)


@activity
async def emit_chunks(ctx: WorkflowContext, count: int, interval_ms: float, flush_each: bool) -> int:
    out = ctx.stream("tokens")
    for _ in range(count):
        out.write(f"{time.time():.6f}")  # the reader subtracts this from its own clock (same host)
        if flush_each:
            await out.flush()
        await asyncio.sleep(interval_ms / 1000)  # a model emitting tokens at this pace
    return count


@server.durable_tool(description="Streams timestamped chunks as progress")
async def emit(ctx: WorkflowContext, count: int, interval_ms: float, flush_each: bool) -> int:
    return await emit_chunks(ctx, count, interval_ms, flush_each)
