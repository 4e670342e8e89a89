"""An HTTP MCP server with bearer-token auth, for the auth tests.

Usage: ``python -m tests.mcp.programs.auth_server http|compact PORT`` (env as in :mod:`order_server`);
``compact`` serves the compact tool style.
Tokens: ``alice-token`` and ``bob-token`` (scope ``orders``), ``noscope-token`` (no scope),
``other-audience-token`` (issued for another resource); anything else is invalid.
"""

from __future__ import annotations

import os
import sys

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from edda_mcp import EddaMCPServer, ToolStyle
from tests.mcp.programs.order_server import e2e_order


class StaticTokens:
    """A TokenVerifier over a fixed table (a real server would check a JWT or call introspection)."""

    def __init__(self, resource: str) -> None:
        self._tokens = {
            "alice-token": AccessToken(token="a", client_id="alice", scopes=["orders"], resource=resource),
            "bob-token": AccessToken(token="b", client_id="bob", scopes=["orders"], resource=resource),
            "noscope-token": AccessToken(token="c", client_id="carol", scopes=[], resource=resource),
            "other-audience-token": AccessToken(
                token="d", client_id="mallory", scopes=["orders"], resource="https://elsewhere.example/mcp"
            ),
        }

    async def verify_token(self, token: str) -> AccessToken | None:
        return self._tokens.get(token)


def make_server(port: int, tool_style: ToolStyle = ToolStyle.FULL) -> EddaMCPServer:
    resource = f"http://127.0.0.1:{port}/mcp"
    server = EddaMCPServer(
        "auth-server",
        db_url=os.environ["EDDA_MCP_TEST_DB"],
        start_wait_seconds=0,
        poll_interval=0.05,
        token_verifier=StaticTokens(resource),
        auth=AuthSettings(
            issuer_url="https://auth.example.com",  # type: ignore[arg-type]
            resource_server_url=resource,  # type: ignore[arg-type]
            required_scopes=["orders"],
            validate_token_resource=True,
        ),
        tool_style=tool_style,
    )
    server.durable_tool(e2e_order)
    return server


if __name__ == "__main__":
    style = ToolStyle.COMPACT if sys.argv[1] == "compact" else ToolStyle.FULL
    make_server(int(sys.argv[2]), style).run("http", port=int(sys.argv[2]))
