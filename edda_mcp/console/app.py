"""``console_app``: the operations console as a Starlette ASGI app, for an engine or a database URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import jinja2
from mcp.server.auth.provider import TokenVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from durable_core import ConfigurationError, EddaApp, InstanceCounts, Workflow
from edda_mcp.console.live import ChangeHub
from edda_mcp.console.payloads import Redaction, Redactor
from edda_mcp.console.security import (
    ConsoleAuth,
    csrf_token,
    local_host_header,
    local_user,
    presented_token,
    secure_headers,
)

__all__ = ["Console", "ConsoleOptions", "console_app", "open_database"]

_HERE = Path(__file__).parent
_COUNTS_TTL = 5.0


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """Settings of a console (see :func:`console_app`)."""

    read_only: bool = False
    auth: ConsoleAuth | None = None
    redact: Redaction = None
    poll_interval: float = 1.0
    page_size: int = 50
    any_host: bool = False


def open_database(db_url: str) -> EddaApp:
    """An engine on an existing database that neither creates nor migrates it, and runs nothing."""
    return EddaApp(db_url, workflows=[], open_existing=True, run_workers=False)


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else "***@"
    netloc = f"{user}{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _fmt_dt(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


class Console:
    """The state of one console: its engine, templates, change hub and cached counts."""

    def __init__(
        self,
        source: EddaApp | str,
        options: ConsoleOptions,
        workflows: Iterable[Workflow[Any, Any]] | None = None,
    ) -> None:
        self.options = options
        self.owned = isinstance(source, str)
        self.app: EddaApp = open_database(source) if isinstance(source, str) else source
        self.label = _masked(source) if isinstance(source, str) else repr(self.app.storage)
        given = list(workflows) if workflows is not None else None
        self._workflows = given
        self.redactor = Redactor(options.redact)
        self.hub = ChangeHub(self.app)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["dt"] = _fmt_dt
        self.templates.filters["dur"] = _fmt_duration
        self.templates.filters["q"] = lambda v: quote(str(v), safe="")
        self._ready = False
        self._lock = asyncio.Lock()
        self._counts: tuple[float, InstanceCounts] | None = None

    def workflows(self) -> list[Workflow[Any, Any]]:
        """Registered definitions shown on the workflows page (none when opened from a URL only)."""
        if self._workflows is not None:
            return sorted(self._workflows, key=lambda wf: wf.name)
        return [] if self.owned else self.app.served_workflows()

    async def ready(self) -> None:
        """Open the database (owned engine) and start listening for changes; once."""
        if self._ready:
            return
        async with self._lock:
            if not self._ready:
                if self.owned:
                    await self.app.initialize()
                self.hub.start()
                self._ready = True

    async def close(self) -> None:
        """Stop the streams and close an owned engine."""
        await self.hub.stop()
        if self.owned:
            await self.app.shutdown()
        self._ready = False

    async def counts(self) -> InstanceCounts:
        """Counts by workflow and status, read at most every few seconds (a full index scan)."""
        now = asyncio.get_running_loop().time()
        if self._counts is None or now - self._counts[0] > _COUNTS_TTL:
            self._counts = (now, await self.app.instance_totals())
        return self._counts[1]

    def cached_counts(self) -> InstanceCounts:
        """The counts last read, however old (empty before the first read)."""
        return self._counts[1] if self._counts is not None else InstanceCounts((), ())

    def forget_counts(self) -> None:
        """Read the counts again next time (after an action)."""
        self._counts = None

    async def actor(self, request: Request) -> str | None:
        """Who sends the request (None: not authenticated)."""
        auth = self.options.auth
        if auth is None:
            return local_user()
        token = presented_token(request)
        return None if token is None else await auth.principal(token)

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        """Render template ``name`` with the common context."""
        common = {
            "root": request.scope.get("root_path", ""),
            "read_only": self.options.read_only,
            "auth_on": self.options.auth is not None,
            "db_label": self.label,
            "csrf": csrf_token(request),
            "live": "",
        }
        html = self.templates.get_template(name).render({**common, **context})
        return Response(html, status_code=status, media_type="text/html; charset=utf-8")


Handler = Callable[[Console, Request], Awaitable[Response]]


def guarded(console: Console, handler: Handler, *, public: bool = False) -> Callable[[Request], Any]:
    """Wrap ``handler``: Host check, authentication, security headers."""

    async def endpoint(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        if console.options.auth is None and not console.options.any_host and not local_host_header(request):
            return PlainTextResponse("this console answers on loopback host names only", status_code=403)
        await console.ready()
        actor = await console.actor(request)
        if actor is None and not public:
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                target = f"{root}/login?next={quote(request.url.path, safe='')}"
                return secure_headers(request, RedirectResponse(target, status_code=303), root)
            return PlainTextResponse(
                "authentication required", status_code=401, headers={"www-authenticate": "Bearer"}
            )
        request.state.actor = actor
        return secure_headers(request, await handler(console, request), root)

    return endpoint


async def _metrics(console: Console, request: Request) -> Response:
    """Prometheus metrics of the console's engine, behind the console's auth (the ``metrics`` extra).

    A console that only reads a database runs nothing, so its counters stay at zero; the stored gauges
    (instances by status, outbox backlog) are what it adds. Without prometheus-client: 404 naming the extra.
    """
    try:
        from edda_mcp.metrics import metrics_for
    except ConfigurationError as missing:
        return PlainTextResponse(f"{missing}\n", status_code=404)
    metrics = metrics_for(console.app)
    await metrics.refresh()
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


def console_app(
    app_or_db_url: EddaApp | str,
    *,
    read_only: bool = False,
    auth: str | TokenVerifier | ConsoleAuth | None = None,
    redact: Redaction = None,
    workflows: Iterable[Workflow[Any, Any]] | None = None,
    poll_interval: float = 1.0,
    page_size: int = 50,
    any_host: bool = False,
) -> Starlette:
    """The operations console as an ASGI app (mount it anywhere; it builds links from its root path).

    Args:
        app_or_db_url: a running :class:`~durable_core.EddaApp` to share, or a database URL: then the
            console opens the existing database itself (never creating or migrating it) and runs nothing.
        read_only: hide and refuse every action.
        auth: a bearer token (at least 16 characters), an MCP SDK ``TokenVerifier``, or a
            :class:`ConsoleAuth`; None: no authentication (then only loopback ``Host`` headers are served).
        redact: per workflow name a callable turning a stored value into what is shown, or one callable
            ``(workflow_name, value) -> shown value``, for sensitive payloads.
        workflows: definitions to list with their signatures (default: the shared engine's).
        poll_interval: seconds between live-update checks when no change notification arrives.
        page_size: rows per page of the instance list (1..500).
        any_host: serve any ``Host`` header without authentication (``edda-mcp ui --insecure``).

    Raises:
        DatabaseNotFoundError / MigrationError: (at start-up, for a URL) no Edda database there, or
            one of another schema version.
    """
    from edda_mcp.console.routes import routes

    if isinstance(auth, str):
        auth = ConsoleAuth(token=auth)
    elif auth is not None and not isinstance(auth, ConsoleAuth):
        auth = ConsoleAuth(verifier=auth)
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    if type(page_size) is not int or not 1 <= page_size <= 500:
        raise ValueError(f"page_size must be an int between 1 and 500, got {page_size!r}")
    options = ConsoleOptions(read_only, auth, redact, poll_interval, page_size, any_host)
    console = Console(app_or_db_url, options, workflows)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await console.ready()
        try:
            yield
        finally:
            await console.close()

    table: list[BaseRoute] = [
        *routes(console, guarded),
        Mount("/static", app=StaticFiles(directory=str(_HERE / "static")), name="static"),
        Route("/metrics", guarded(console, _metrics), methods=["GET"]),
    ]
    starlette = Starlette(routes=table, lifespan=lifespan)
    starlette.state.console = console
    return starlette
