"""A plain MCP server the durable MCP client tests call: ``python -m tests.mcp.programs.tool_server DIR PORT``.

Serves streamable HTTP on 127.0.0.1:PORT. ``add_item`` appends ``start <item>`` / ``done <item>`` lines
to ``DIR/effects.log`` (fsynced), and waits while ``DIR/hold-<item>`` exists (the test kills the calling
workflow process meanwhile). ``whoami`` returns the Authorization header it received, masked. Every
``tools/list`` request appends ``list`` to the same log (the tests count them).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import Tool

WORKDIR = Path(sys.argv[1]) if len(sys.argv) > 1 else Path()


class CountingServer(MCPServer):
    """Notes each ``tools/list`` request in the effects log."""

    async def list_tools(self) -> list[Tool]:
        _note("list")
        return await super().list_tools()


mcp = CountingServer("edda-test-tools")


def _note(line: str) -> None:
    fd = os.open(WORKDIR / "effects.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@mcp.tool()
async def add_item(item: str) -> str:
    """Add an item to the cart (a side effect, logged)."""
    _note(f"start {item}")
    while (WORKDIR / f"hold-{item}").exists():  # noqa: ASYNC110 - a gate the test process removes
        await asyncio.sleep(0.02)
    _note(f"done {item}")
    return f"added {item}"


@mcp.tool()
async def whoami(ctx: Context) -> str:
    """The Authorization header of this request, masked but for its last 4 characters."""
    header = (ctx.headers or {}).get("authorization")
    if header is None:
        return "anonymous"
    scheme, _, token = header.partition(" ")
    return f"{scheme} ****{token[-4:]}"


if __name__ == "__main__":
    mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]), stateless_http=True)
