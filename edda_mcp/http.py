"""The streamable-HTTP ASGI app: stateless MCP endpoint, host/origin checks, id check and body limit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from edda_mcp.errors import HttpConfigError
from edda_mcp.http_guards import AcceptRouter, RequestIdGuard

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
LOCAL_HOST_HEADERS = ("127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*")
LOCAL_ORIGINS = (
    "http://127.0.0.1",
    "http://127.0.0.1:*",
    "http://localhost",
    "http://localhost:*",
    "http://[::1]",
    "http://[::1]:*",
)


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """Options of :func:`build_asgi_app` (see ``EddaMCPServer.asgi_app``).

    Attributes:
        path: where the MCP endpoint is served.
        host: the interface the app is bound to (only used to warn about exposed binds).
        allowed_hosts: accepted ``Host`` headers; None means the loopback names (and ``public_url``'s).
        allowed_origins: accepted ``Origin`` headers; None means loopback origins (and ``public_url``'s).
        max_request_body_size: larger request bodies are refused with 413.
        json_response: always answer with plain JSON (no progress notifications); by default clients
            that accept ``text/event-stream`` get SSE responses and the others JSON.
        events_path: where CloudEvents and cancels are accepted (None: not served).
        allow_unauthenticated_events: serve ``events_path`` although no token verifier guards it.
        public_url: the canonical URL of the MCP endpoint (``https://mcp.example.com/mcp``); its host
            and origin are always allowed.
        stateful_sessions: keep an MCP session per handshake-era client in this process, so the server
            can send it requests (elicitation) on the SSE stream of a tool call. Needs sticky routing
            when several replicas serve one URL; 2026-07-28 clients are stateless either way.
    """

    path: str = "/mcp"
    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] | None = None
    allowed_origins: tuple[str, ...] | None = None
    max_request_body_size: int = 1024 * 1024
    json_response: bool = False
    events_path: str | None = "/events"
    allow_unauthenticated_events: bool = False
    public_url: str | None = None
    stateful_sessions: bool = False

    def __post_init__(self) -> None:
        if self.max_request_body_size <= 0:
            raise HttpConfigError(
                f"max_request_body_size must be a positive number of bytes, got {self.max_request_body_size}"
            )
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise HttpConfigError(
                    f"public_url must be an absolute http(s) URL such as https://mcp.example.com/mcp, "
                    f"got {self.public_url!r}"
                )


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only."""
    return host in LOCAL_HOSTS or host.startswith("127.")


def transport_security(options: HttpOptions) -> TransportSecuritySettings:
    """Host/Origin validation, on for every bind address (the MCP spec requires Origin validation).

    Without explicit lists, only loopback ``Host``/``Origin`` headers (and those of ``public_url``) are
    accepted, whatever interface the app is bound to. Requests without an ``Origin`` (non-browser
    clients) pass the Origin check.
    """
    hosts = list(LOCAL_HOST_HEADERS if options.allowed_hosts is None else options.allowed_hosts)
    origins = list(LOCAL_ORIGINS if options.allowed_origins is None else options.allowed_origins)
    if options.public_url is not None:
        parts = urlsplit(options.public_url)
        hosts.append(parts.netloc)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def build_asgi_app(
    mcp: MCPServer[Any], options: HttpOptions, events: ASGIApp | None = None, extra: Sequence[BaseRoute] = ()
) -> Starlette:
    """A Starlette app serving ``mcp``, ``events`` at ``options.events_path`` and ``extra`` routes.

    ``mcp`` is stateless unless asked; the extra routes are the health probes. Its lifespan starts the engine in the server's own event loop.
    """
    security = transport_security(options)

    def flavour(json_response: bool) -> Starlette:
        return mcp.streamable_http_app(
            streamable_http_path=options.path,
            stateless_http=not options.stateful_sessions,
            json_response=json_response,
            max_request_body_size=options.max_request_body_size,
            transport_security=security,
            host=options.host,
        )

    app = flavour(options.json_response)
    route = _mcp_route(app, options.path)
    endpoint = _endpoint(route)
    if not options.json_response and not options.stateful_sessions:
        # Two stateless flavours of one endpoint; a session lives in one of them, so not with sessions.
        json_app = flavour(True)
        endpoint = AcceptRouter(endpoint, _endpoint(_mcp_route(json_app, options.path)))
        app.router.lifespan_context = _both(app.router.lifespan_context, json_app.router.lifespan_context)
    _set_endpoint(route, RequestIdGuard(endpoint, options.max_request_body_size))
    if events is not None and options.events_path:
        path = options.events_path.rstrip("/")
        app.router.routes.append(Route(path, endpoint=events, methods=["POST"]))  # no slash redirect
        app.router.routes.append(Mount(path, app=events))
    app.router.routes.extend(extra)
    return app


def _mcp_route(app: Starlette, path: str) -> Route:
    for route in app.router.routes:
        if isinstance(route, Route) and route.path == path:
            return route
    raise RuntimeError(f"the MCP SDK built no route for {path!r}")  # pragma: no cover - SDK contract


def _endpoint(route: Route) -> ASGIApp:
    """The SDK's transport app behind the route (inside its auth check, if any)."""
    inner: ASGIApp = route.app.app if isinstance(route.app, RequireAuthMiddleware) else route.app
    return inner


def _set_endpoint(route: Route, endpoint: ASGIApp) -> None:
    """Put ``endpoint`` where the transport app was, so authentication still runs first."""
    if isinstance(route.app, RequireAuthMiddleware):
        route.app.app = endpoint
    else:
        route.app = endpoint


Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def _both(first: Lifespan, second: Lifespan) -> Lifespan:
    """Run two lifespans nested (the engine is shared: nested starts reuse it)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with first(app), second(app):
            yield

    return lifespan
