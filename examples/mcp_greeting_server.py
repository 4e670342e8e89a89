"""The smallest durable MCP tool: a greeting workflow with two recorded steps.

Serve it to an MCP host: edda-mcp serve examples/mcp_greeting_server.py:server
Run it directly for an in-process session with an MCP client: python examples/mcp_greeting_server.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from mcp import Client

from durable_core import WorkflowContext, activity
from edda_mcp import EddaMCPServer

server = EddaMCPServer("Greeting Service", db_url="sqlite:///greetings.db")


@activity
async def look_up_title(ctx: WorkflowContext, name: str) -> str:
    return "Dr." if name.lower().startswith("dr ") else ""


@activity
async def compose(ctx: WorkflowContext, name: str, title: str) -> str:
    bare = name[3:] if title else name
    return f"Hello, {title + ' ' if title else ''}{bare}!"


@server.durable_tool(description="Greet someone by name (durably)")
async def greet(ctx: WorkflowContext, name: str) -> str:
    title = await look_up_title(ctx, name)
    return await compose(ctx, name, title)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local = EddaMCPServer("Greeting Service", db_url=f"sqlite:///{Path(tmp) / 'greetings.db'}")
        local.durable_tool(greet)
        async with Client(local.mcp) as client:
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            print(f"tools: {names}")
            reply = await client.call_tool("greet", {"name": "Dr Ada"})
            data = reply.structured_content or {}
            print(f"greet -> {data['result']} (instance {data['instance_id'][:8]}..., {data['status']})")
            result = await client.call_tool("greet_result", {"instance_id": data["instance_id"]})
            print(f"greet_result -> {(result.structured_content or {})['result']}")


if __name__ == "__main__":
    asyncio.run(main())
