"""An MCP server run as a real subprocess by the end-to-end tests (stdio or HTTP).

Environment: ``EDDA_MCP_TEST_DB`` (database URL) and ``EDDA_MCP_TEST_DIR`` (a directory where live
steps are logged to ``steps.log`` and where a ``<order_id>.go`` file opens the gated step).
Usage: ``python -m tests.mcp.programs.order_server [stdio | http PORT]``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from durable_core import WorkflowContext, activity, wait_event
from edda_mcp import EddaMCPServer

WORKDIR = Path(os.environ["EDDA_MCP_TEST_DIR"])
server = EddaMCPServer(
    "e2e-order-server", db_url=os.environ["EDDA_MCP_TEST_DB"], start_wait_seconds=0, poll_interval=0.05
)
print("stray print at import time goes to stderr under `edda-mcp serve`")


@activity
async def e2e_record(ctx: WorkflowContext, name: str) -> str:
    with (WORKDIR / "steps.log").open("a") as log:
        log.write(f"{name}\n")
    print(f"stray print from step {name}")  # must never reach the protocol stream
    return name


@activity
async def e2e_wait_for_go(ctx: WorkflowContext, order_id: str) -> str:
    while not (WORKDIR / f"{order_id}.go").exists():  # noqa: ASYNC110 - a gate another process opens
        await asyncio.sleep(0.02)
    return f"{order_id}:go"


@server.durable_tool(description="Reserve, wait for the go file, ship.")
async def e2e_order(ctx: WorkflowContext, order_id: str) -> dict[str, list[str]]:
    steps = [await e2e_record(ctx, f"{order_id}:reserve")]
    steps.append(await e2e_wait_for_go(ctx, order_id))
    steps.append(await e2e_record(ctx, f"{order_id}:ship"))
    return {"steps": steps}


@server.durable_tool(description="Waits for a 'go' event, then returns its data.")
async def e2e_wait_go(ctx: WorkflowContext, order_id: str) -> dict[str, str]:
    event = await wait_event(ctx, "go")
    assert isinstance(event.data, dict)
    return {"order_id": order_id, "said": str(event.data.get("say"))}


@server.tool(description="The server's process id (tests kill it)")
def server_pid() -> int:
    return os.getpid()


app = server.asgi_app()

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("http", port=int(sys.argv[2]))
    else:
        server.run("stdio")
