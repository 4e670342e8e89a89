"""The streamable-HTTP ASGI app: stateless MCP endpoint, host/origin checks and a body-size limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """Options of :func:`build_asgi_app` (see ``EddaMCPServer.asgi_app``)."""

    path: str = "/mcp"
    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] | None = None
    allowed_origins: tuple[str, ...] | None = None
    max_request_body_size: int = 1024 * 1024
    json_response: bool = True
    events_path: str | None = "/events"


def transport_security(options: HttpOptions) -> TransportSecuritySettings | None:
    """Host/Origin validation: local-only defaults on a loopback host, or exactly what was allowed."""
    if options.allowed_hosts is None and options.allowed_origins is None:
        if options.host in LOCAL_HOSTS:
            return TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
                allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
            )
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(options.allowed_hosts or ()),
        allowed_origins=list(options.allowed_origins or ()),
    )


def build_asgi_app(mcp: MCPServer[Any], options: HttpOptions, events: ASGIApp | None = None) -> Starlette:
    """A Starlette app serving ``mcp`` statelessly (and ``events`` at ``options.events_path``).

    Its lifespan starts the engine in the server's own event loop.
    """
    app = mcp.streamable_http_app(
        streamable_http_path=options.path,
        stateless_http=True,
        json_response=options.json_response,
        max_request_body_size=options.max_request_body_size,
        transport_security=transport_security(options),
        host=options.host,
    )
    if events is not None and options.events_path:
        path = options.events_path.rstrip("/")
        app.router.routes.append(Route(path, endpoint=events, methods=["POST"]))  # no slash redirect
        app.router.routes.append(Mount(path, app=events))
    return app
