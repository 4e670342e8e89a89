"""The server `mcp_roundtrip.py` measures: one durable tool of three trivial steps."""

from __future__ import annotations

from durable_core import WorkflowContext, activity
from edda_mcp import EddaMCPServer

server = EddaMCPServer("bench", start_wait_seconds=0, poll_interval=0.05, max_concurrent_runs=500)


@activity
async def bench_step(ctx: WorkflowContext, n: int) -> int:
    return n + 1


@server.durable_tool(description="Three trivial durable steps")
async def three_steps(ctx: WorkflowContext, seed: int) -> int:
    value = seed
    for _ in range(3):
        value = await bench_step(ctx, value)
    return value
