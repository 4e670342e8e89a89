"""A remote MCP server on streamable HTTP with bearer-token auth (OAuth resource server).

Requests without a valid token get 401 with a pointer to the protected-resource metadata; tokens
without the required scope get 403. Instances belong to the principal that started them.

In production you run it with uvicorn (`uvicorn module:app` or `edda-mcp serve ... --transport http`)
and verify real tokens (JWT or introspection) in your TokenVerifier. This program serves it on a free
local port, calls it with and without a token, and stops.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
from pathlib import Path

import httpx
import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from durable_core import WorkflowContext, activity
from edda_mcp import EddaMCPServer


class DemoTokens:
    """Accepts exactly one token; a real verifier checks signature, expiry and audience."""

    def __init__(self, resource: str) -> None:
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        if token != "secret-token-for-ada":
            return None
        return AccessToken(token=token, client_id="ada", scopes=["reports"], resource=self.resource)


@activity
async def crunch(ctx: WorkflowContext, quarter: str) -> int:
    return {"Q1": 120, "Q2": 135}.get(quarter, 0)


async def quarterly_report(ctx: WorkflowContext, quarter: str) -> dict[str, int | str]:
    return {"quarter": quarter, "revenue": await crunch(ctx, quarter)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(db_url: str, port: int) -> EddaMCPServer:
    resource = f"http://127.0.0.1:{port}/mcp"
    server = EddaMCPServer(
        "Reports",
        db_url=db_url,
        token_verifier=DemoTokens(resource),
        auth=AuthSettings(
            issuer_url="https://auth.example.com",  # type: ignore[arg-type]
            resource_server_url=resource,  # type: ignore[arg-type]
            required_scopes=["reports"],
            validate_token_resource=True,
        ),
    )
    server.durable_tool(quarterly_report, description="Build the quarterly revenue report")
    return server


async def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = build(f"sqlite:///{Path(tmp) / 'reports.db'}", port)
        config = uvicorn.Config(server.asgi_app(), host="127.0.0.1", port=port, log_level="warning")
        web = uvicorn.Server(config)
        serving = asyncio.create_task(web.serve())
        while not web.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            async with httpx.AsyncClient() as http:
                anonymous = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            print(f"without a token: HTTP {anonymous.status_code}")
            print(f"  WWW-Authenticate: {anonymous.headers['www-authenticate'].split(',')[0]} ...")
            headers = {"Authorization": "Bearer secret-token-for-ada"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as authed,
                Client(streamable_http_client(url, http_client=authed)) as client,
            ):
                report = await client.call_tool("quarterly_report", {"quarter": "Q2"})
                print(f"with a token: quarterly_report -> {(report.structured_content or {})['result']}")
        finally:
            web.should_exit = True
            await serving


if __name__ == "__main__":
    asyncio.run(main())
