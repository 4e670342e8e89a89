"""A workflow process that calls another MCP server's tools through ``DurableMCPClient``.

``python -m tests.mcp.programs.mcp_client_worker DB_URL`` runs an app serving ``shopper`` until killed
and prints ``ready`` once started. The tool server's URL comes from ``$EDDA_TEST_TOOL_URL``, the bearer
token from ``$TOOL_TOKEN`` at call time.
"""

from __future__ import annotations

import asyncio
import os
import sys

from durable_core import Catalog, EddaApp, RetryPolicy, WorkflowContext, workflow
from edda_mcp import DurableMCPClient

CATALOG = Catalog()
TOOLS = DurableMCPClient(
    url=os.environ.get("EDDA_TEST_TOOL_URL", "http://127.0.0.1:9/mcp"),
    headers="TOOL_TOKEN",
    name="shop-tools",
    retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.05, jitter=0),
)


@workflow(catalog=CATALOG)
async def shopper(ctx: WorkflowContext, items: list[str]) -> list[str]:
    tools = await TOOLS.list_tools(ctx)
    results = [",".join(sorted(tool.name for tool in tools))]
    for item in items:
        # listed again: the run's recorded list, from the run memo (no step, no request; replays too)
        assert [tool.name for tool in await TOOLS.list_tools(ctx)] == [tool.name for tool in tools]
        result = await TOOLS.call_tool(ctx, "add_item", {"item": item})
        results.append(result.content[0].text)  # type: ignore[union-attr]
    who = await TOOLS.call_tool(ctx, "whoami")
    results.append(who.content[0].text)  # type: ignore[union-attr]
    return results


async def main() -> None:
    app = EddaApp(sys.argv[1], "mcp-client-worker", workflows=list(CATALOG), lease_ttl=1.5, poll_interval=0.1)
    await app.initialize()
    print("ready", flush=True)
    await asyncio.Event().wait()  # until SIGKILL / SIGTERM


if __name__ == "__main__":
    asyncio.run(main())
