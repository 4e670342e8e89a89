"""The server of the 2025-11-25 tasks tests (``tests/mcp/test_tasks2025.py``), stdio or HTTP.

Environment: ``EDDA_MCP_TEST_DB`` (database URL). Serve with
``python -m edda_mcp serve tests.mcp.programs.tasks2025_server:server --db URL [--transport http ...]``.
"""

from __future__ import annotations

import os

from pydantic import BaseModel

from durable_core import TerminalError, WorkflowContext, activity, wait_event
from edda_mcp import EddaMCPServer

server = EddaMCPServer(
    "tasks2025-server", db_url=os.environ["EDDA_MCP_TEST_DB"], start_wait_seconds=0, poll_interval=0.05
)


class Region(BaseModel):
    region: str


@activity
async def provision(ctx: WorkflowContext, name: str, region: str) -> str:
    return f"{name}.{region}.example.net"


@server.durable_tool(description="Create a cluster; asks which region.", human_input=True)
async def create_cluster(ctx: WorkflowContext, name: str) -> str:
    answer = await wait_event(ctx, "region", model=Region)
    assert isinstance(answer.data, Region)
    return await provision(ctx, name, answer.data.region)


@server.durable_tool(description="Double a number.")
async def double(ctx: WorkflowContext, n: int) -> int:
    return await provision_number(ctx, n)


@activity
async def provision_number(ctx: WorkflowContext, n: int) -> int:
    return n * 2


@activity
async def refuse(ctx: WorkflowContext, why: str) -> str:
    raise TerminalError(why)


@server.durable_tool(description="Always fails.")
async def doomed(ctx: WorkflowContext, why: str) -> str:
    return await refuse(ctx, why)
