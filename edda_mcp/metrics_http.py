"""``/metrics`` in :meth:`EddaMCPServer.asgi_app`: when it is served, and behind which checks.

The rule is the one of ``/events``, relaxed for loopback: metric labels name workflows and activities,
which an open port must not leak. With a token verifier configured, a scrape needs a valid bearer token
with the required scopes (Prometheus: ``authorization: {credentials: ...}``). Without one, ``/metrics`` is
served only on a loopback bind, or when ``allow_unauthenticated_metrics=True`` says a guard in front
(a private network, a proxy) takes care of it. The ``Host`` header is checked like the MCP endpoint's.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mcp.server.auth.provider import TokenVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from durable_core import EddaApp
from edda_mcp.events_http import verified_bearer
from edda_mcp.http import HttpOptions, is_loopback, transport_security

if TYPE_CHECKING:
    from edda_mcp.metrics import MetricsAuthorizer, MetricsEndpoint

logger = logging.getLogger("edda_mcp.metrics")

__all__ = ["host_allowed", "mount_metrics"]


def host_allowed(host_header: str, allowed: Sequence[str]) -> bool:
    """Whether a ``Host`` header matches one of ``allowed`` (``name`` or ``name:*`` for any port)."""
    for pattern in allowed:
        if pattern.endswith(":*"):
            name, _, port = host_header.rpartition(":")
            if name == pattern[:-2] and port.isdigit():
                return True
        elif host_header == pattern:
            return True
    return False


def mount_metrics(
    app: Starlette,
    engine: Callable[[], EddaApp],
    options: HttpOptions,
    verifier: TokenVerifier | None,
    required_scopes: Sequence[str],
) -> bool:
    """Add ``GET options.metrics_path`` when the rule allows; True if mounted.

    ``engine`` returns the server's current engine (a server restarted after a stop serves a new one):
    each scrape serves that engine's metrics, and the current one's are attached here at once.
    """
    path = options.metrics_path
    if not path:
        return False
    if importlib.util.find_spec("prometheus_client") is None:
        logger.info(
            "%s not served: prometheus-client is not installed (pip install 'edda-mcp[metrics]')", path
        )
        return False
    if verifier is None and not (options.allow_unauthenticated_metrics or is_loopback(options.host)):
        logger.warning(
            "%s not served on %s: no auth configured (set a token verifier or allow_unauthenticated_metrics)",
            path,
            options.host,
        )
        return False
    from edda_mcp.metrics import metrics_app  # the optional dependency, imported only when served

    scopes = list(required_scopes)
    allowed_hosts = transport_security(options).allowed_hosts

    async def authorize(request: Request) -> bool:
        if not host_allowed(request.headers.get("host", ""), allowed_hosts):
            return False
        if verifier is None:
            return True
        return await verified_bearer(verifier, scopes, request.headers.get("authorization", "")) is not None

    metrics_app(engine(), authorize=authorize)  # counting starts now, not at the first scrape
    endpoint = _CurrentEngineMetrics(engine, authorize, metrics_app)
    app.router.routes.append(Route(path.rstrip("/") or "/", endpoint=endpoint, methods=["GET", "HEAD"]))
    return True


class _CurrentEngineMetrics:
    """ASGI: each request serves the metrics of the engine ``engine()`` returns at that moment."""

    def __init__(
        self,
        engine: Callable[[], EddaApp],
        authorize: MetricsAuthorizer,
        endpoint_for: Callable[..., MetricsEndpoint],
    ) -> None:
        self._engine = engine
        self._authorize = authorize
        self._endpoint_for = endpoint_for  # metrics_app, imported lazily with the optional dependency

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._endpoint_for(self._engine(), authorize=self._authorize)(scope, receive, send)
