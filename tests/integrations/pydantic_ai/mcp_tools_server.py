"""A plain MCP stdio server for the MCPToolset test: ``shout`` logs each call to $PAI_MCP_LOG."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server: MCPServer[object] = MCPServer("shouter")


@server.tool()
def shout(text: str) -> str:
    """Upper-case ``text`` (appends a line to the call log first)."""
    with open(os.environ["PAI_MCP_LOG"], "a") as log:
        log.write(f"shout {text}\n")
    return text.upper()


if __name__ == "__main__":
    server.run("stdio")
