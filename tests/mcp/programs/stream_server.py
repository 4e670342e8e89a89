"""An MCP server whose durable tool streams tokens: ``tell_story`` writes to stream ``tokens`` in two steps.

Served with ``edda-mcp serve tests.mcp.programs.stream_server:server --transport http ...``
(environment: ``EDDA_MCP_TEST_DB``, the database URL); tests in this process use :func:`build`.
"""

from __future__ import annotations

import os
from typing import Any

from durable_core import WorkflowContext, activity
from edda_mcp import EddaMCPServer

PARTS = (("Once", " upon", " a", " time"), (",", " the", " end."))


@activity
async def speak(ctx: WorkflowContext, part: int) -> str:
    out = ctx.stream("tokens")
    for token in PARTS[part]:
        out.write(token)
        await out.flush()  # one stored batch per token: each one goes out on its own
    return "".join(PARTS[part])


async def tell_story(ctx: WorkflowContext) -> str:
    return "".join([await speak(ctx, part) for part in range(len(PARTS))])


def build(db_url: str) -> EddaMCPServer:
    """The server on ``db_url``."""
    server = EddaMCPServer("e2e-stream-server", db_url=db_url, start_wait_seconds=20, poll_interval=0.05)
    server.durable_tool(tell_story, description="Tells a tiny story, streaming its tokens as progress.")
    return server


def __getattr__(name: str) -> Any:
    if name == "server":  # built on first use, so importing the module needs no environment
        return build(os.environ["EDDA_MCP_TEST_DB"])
    raise AttributeError(name)
