"""A workflow that calls another MCP server's tools durably (the server runs as a stdio subprocess)."""

import asyncio
import os
import sys
from pathlib import Path

from mcp import StdioServerParameters
from mcp.server.mcpserver import MCPServer

from durable_core import EddaApp, WorkflowContext, workflow
from edda_mcp import DurableMCPClient

# -- the other MCP server: a plain MCP SDK server with one tool ------------------------------------
inventory = MCPServer("inventory")


@inventory.tool()
def reserve(sku: str, quantity: int) -> str:
    """Reserve stock (a side effect on the other side)."""
    with Path("reservations.log").open("a") as log:
        log.write(f"{sku} x{quantity}\n")
    return f"reserved {quantity} x {sku}"


# -- the durable workflow calling it ---------------------------------------------------------------
INVENTORY = DurableMCPClient(
    stdio=StdioServerParameters(command=sys.executable, args=[__file__, "serve"], cwd=os.getcwd()),
    name="inventory",
)


@workflow
async def restock(ctx: WorkflowContext, skus: list[str]) -> list[str]:
    tools = await INVENTORY.list_tools(ctx)  # recorded once, replayed afterwards
    print("tools of the other server:", [tool.name for tool in tools])
    done = []
    for sku in skus:
        result = await INVENTORY.call_tool(ctx, "reserve", {"sku": sku, "quantity": 2})  # one activity each
        done.append(result.content[0].text)  # type: ignore[union-attr]
    return done


def reservations() -> list[str]:
    return Path("reservations.log").read_text().splitlines()


async def main() -> None:
    async with EddaApp("sqlite:///mcp_client.db", "restocking", workflows=[restock]) as app:
        instance_id = await restock.start(skus=["A-1", "B-2"])
        print("result:", await app.handle(instance_id).result(timeout=60))
        print("history:", [entry.name for entry in await app.get_history(instance_id)])
    print("reservations made:", reservations())


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        inventory.run()  # stdio: the MCP client's subprocess
    else:
        asyncio.run(main())
