"""``EddaMCPServer``: durable workflows as MCP tools, over one :class:`durable_core.EddaApp`."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar, Unpack, overload

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.extension import Extension
from mcp.server.mcpserver import MCPServer, RequestStateSecurity
from mcp.server.subscriptions import InMemorySubscriptionBus
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from durable_core import AppOptions, Catalog, CloudEventsASGI, EddaApp, Workflow
from edda_mcp.apps import ProgressViewsMiddleware, register_view
from edda_mcp.compact import SharedRunTools, register_shared_respond, register_shared_tools
from edda_mcp.console.mount import console_routes
from edda_mcp.control_tools import register_control_tools
from edda_mcp.durable_tool import DurableTool, DurableToolSpec
from edda_mcp.errors import ToolDefinitionError
from edda_mcp.events_http import EngineSink, bearer_authorizer
from edda_mcp.feed import ChangeFeed
from edda_mcp.health import health_routes
from edda_mcp.http import HttpOptions, build_asgi_app
from edda_mcp.mcp_events import RunEvents
from edda_mcp.metrics_http import mount_metrics
from edda_mcp.outcome_tool import DEFAULT_RESOLVE_TOOL, register_resolve_tool
from edda_mcp.queries import InstanceQueries
from edda_mcp.registration import register_durable_tool
from edda_mcp.remote import exposure_warning
from edda_mcp.resources import announcer, register_instance_resources
from edda_mcp.server_options import DEFAULT_CONTROL_PREFIX, ServerFeatures, control_prefix
from edda_mcp.stdio import run_stdio
from edda_mcp.tasks import DurableTasks
from edda_mcp.tasks2025 import LegacyTasks
from edda_mcp.tool_style import SHARED_TOOL_NAMES, ToolStyle

logger = logging.getLogger("edda_mcp")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB_URL = "sqlite:///edda.db"
DB_URL_ENV = "EDDA_MCP_DB_URL"
DEFAULT_START_WAIT_SECONDS = 10.0
DEFAULT_MAX_WAIT_SECONDS = 45.0


class EddaMCPServer:
    """An MCP server whose durable tools are workflows that survive crashes and restarts.

    Args:
        name: server name shown to MCP clients (also the engine's ``service_name``).
        db_url: database of the engine (``sqlite:///...``, ``postgresql://...``, ``mysql://...``);
            default ``sqlite:///edda.db``. The ``EDDA_MCP_DB_URL`` environment variable (set by
            ``edda-mcp serve --db``) overrides it.
        app: an existing engine to serve instead of creating one from ``db_url``.
        instructions: guidance for the model about how to use this server.
        version: server version shown to clients; also the code version recorded on instances
            (``EddaApp(version=...)``; when empty, a hash of the workflows' code).
        start_wait_seconds: default time a start tool waits for the result before returning the handle.
        max_wait_seconds: cap of waits a caller asks for (keep it under the host's tool timeout, ~60 s).
        token_verifier: verifies bearer tokens on HTTP (requires ``auth``).
        auth: OAuth resource-server settings (issuer, resource URL, required scopes).
        hooks: your own engine hooks (the server wraps them to observe progress).
        max_argument_bytes: durable tools refuse larger (JSON-encoded) arguments without storing them.
        tasks: serve tasks to clients that ask for them: the ``io.modelcontextprotocol/tasks``
            extension (2026-07-28) and the experimental 2025-11-25 form (``params.task``).
        apps: give each durable tool a live progress view (MCP Apps, ``io.modelcontextprotocol/ui``),
            linked only for clients that declare that extension.
        events: serve the ``io.modelcontextprotocol/events`` extension (run lifecycle events and
            received messages, read from the store).
        request_state_security: how the ``requestState`` of 2026-07-28 input rounds is sealed; the
            default key lives in this process only, so replicas behind one URL must share keys
            (``RequestStateSecurity(keys=[secret])``).
        workflows: further workflows this server runs besides its durable tools (e.g. the child
            workflows they start). A server runs only these and its durable tools, never another
            server's, even on the same database.
        tool_style: ``"full"`` (default): ``<name>``, ``<name>_status``, ``<name>_result``,
            ``<name>_cancel`` (and ``<name>_respond``) per durable tool. ``"compact"``: one start tool
            per durable tool plus shared ``runs_status``, ``runs_result``, ``runs_cancel``, ``runs_list``
            (and ``runs_respond``), for hosts where many tools crowd the model's context.
        run_control_tools: add the opt-in run-control admin tools (``runs_retry``, ``_fork``,
            ``_pause``, ``_unpause``, ``_terminate``): True for prefix ``runs``, or the prefix to use
            (as :meth:`add_run_control_tools`). Only where the server's clients are operators.
        **app_options: further :class:`EddaApp` options, type-checked (see :class:`AppOptions`):
            ``worker=WorkerOptions(...)``, ``outbox=``, ``ingress=``, ``clock``, ``poll_interval``...
    """

    def __init__(
        self,
        name: str,
        db_url: str | None = None,
        *,
        app: EddaApp | None = None,
        instructions: str | None = None,
        version: str = "",
        start_wait_seconds: float = DEFAULT_START_WAIT_SECONDS,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
        token_verifier: TokenVerifier | None = None,
        auth: AuthSettings | None = None,
        hooks: object | None = None,
        max_argument_bytes: int = 256 * 1024,
        tasks: bool = True,
        apps: bool = True,
        events: bool = True,
        request_state_security: RequestStateSecurity | None = None,
        workflows: Iterable[Workflow[Any, Any]] = (),
        tool_style: ToolStyle | str = ToolStyle.FULL,
        run_control_tools: bool | str = False,
        **app_options: Unpack[AppOptions],
    ) -> None:
        if start_wait_seconds < 0 or max_wait_seconds < 0:
            raise ToolDefinitionError("start_wait_seconds and max_wait_seconds must be >= 0")
        self._features = ServerFeatures.resolve(
            tasks=tasks, apps=apps, events=events, run_control_tools=run_control_tools
        )
        self.tool_style = _tool_style(tool_style)
        self.name = name
        self._feed = ChangeFeed(hooks)
        self.db_url = os.environ.get(DB_URL_ENV) or db_url or DEFAULT_DB_URL
        self._owns_app = app is None
        self._users = 0
        self._stopped = False
        self._app_options = app_options
        self._code_version = version or None
        # This server's own definitions: two servers in one process never run each other's workflows.
        self.catalog = Catalog(workflows)
        self.app = self._engine_for(app)
        self.start_wait_seconds = start_wait_seconds
        self.max_argument_bytes = max_argument_bytes
        self.max_wait_seconds = max_wait_seconds
        self._bus = InMemorySubscriptionBus()
        self._feed.on_change(announcer(self._bus))
        self._token_verifier = token_verifier
        self._auth = auth
        self.mcp: MCPServer[Any] = self._new_mcp(instructions, version, request_state_security)
        self.durable_tools: dict[str, DurableTool] = {}
        self._shared = SharedRunTools(lambda: self.durable_tools, self._engine)
        self._add_middleware()
        self.storage = InstanceQueries(self._engine)
        register_instance_resources(self.mcp, self._engine)
        if self._features.run_control_prefix is not None:
            self.add_run_control_tools(self._features.run_control_prefix)

    def _new_mcp(
        self, instructions: str | None, version: str, request_state_security: RequestStateSecurity | None
    ) -> MCPServer[Any]:
        """The SDK server, with the extensions this server's features ask for."""
        return MCPServer(
            self.name,
            instructions=instructions,
            version=version,
            token_verifier=self._token_verifier,
            auth=self._auth,
            lifespan=self._mcp_lifespan,
            subscriptions=self._bus,
            extensions=self._extensions() or None,
            request_state_security=request_state_security,
        )

    def _engine_for(self, app: EddaApp | None) -> EddaApp:
        """The app given (from now on also serving this server's workflows), or a new one of its own."""
        if app is None:
            return self._new_app()
        for wf in self.catalog:
            app.add_workflow(wf)
        return app

    def _add_middleware(self) -> None:
        """Per-client additions the SDK has no extension hook for (progress views, 2025-11-25 tasks)."""
        if self._features.apps:
            self.mcp.middleware.append(ProgressViewsMiddleware(lambda: self.durable_tools))
        if self._features.tasks:  # the 2025-11-25 form, for clients that send params.task on that protocol
            self.mcp.middleware.append(LegacyTasks(lambda: self.durable_tools, self._engine, self._feed))

    def _engine(self) -> EddaApp:
        return self.app

    def _extensions(self) -> list[Extension]:
        chosen: list[Extension] = []
        if self._features.tasks:
            chosen.append(DurableTasks(lambda: self.durable_tools, self._engine))
        if self._features.events:
            chosen.append(RunEvents(self._engine, self._feed))
        return chosen

    def _new_app(self) -> EddaApp:
        return EddaApp(
            self.db_url,
            service_name=self.name,
            hooks=self._feed,
            workflows=self.catalog,
            version=self._code_version,
            **self._app_options,
        )

    # -- registration ------------------------------------------------------------------------------
    @overload
    def durable_tool(
        self,
        fn: Callable[..., Any] | Workflow[Any, Any],
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        title: str | None = None,
        wait_seconds: float | None = None,
        timeout: float | None = None,
        require_idempotency_key: bool = False,
        human_input: bool = False,
    ) -> Workflow[Any, Any]: ...
    @overload
    def durable_tool(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        title: str | None = None,
        wait_seconds: float | None = None,
        timeout: float | None = None,
        require_idempotency_key: bool = False,
        human_input: bool = False,
    ) -> Callable[[Callable[..., Any]], Workflow[Any, Any]]: ...
    def durable_tool(
        self,
        fn: Callable[..., Any] | Workflow[Any, Any] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        title: str | None = None,
        wait_seconds: float | None = None,
        timeout: float | None = None,
        require_idempotency_key: bool = False,
        human_input: bool = False,
    ) -> Any:
        """Expose a workflow (first parameter ``ctx: WorkflowContext``) as four tools.

        ``<name>`` starts it, ``<name>_status`` reports progress, ``<name>_result`` returns the result
        and ``<name>_cancel`` cancels it (running compensations). Works on a plain async function (it
        becomes a ``@workflow``) or on an existing workflow.

        Args:
            fn: the workflow or its function (when used without parentheses).
            name: tool name (default: the workflow's name).
            description: what the tool does, for the model (default: the docstring).
            title: human-readable title.
            wait_seconds: how long the start tool waits for the result (default: the server's).
            timeout: workflow timeout in seconds (only when ``fn`` is a plain function).
            require_idempotency_key: make ``idempotency_key`` mandatory (the start is then idempotent).
            human_input: add ``<name>_respond`` to answer a run waiting for input (``wait_event`` with a
                ``model=``); clients that support elicitation are also asked while the start tool waits.

        Returns:
            The workflow, so it can still be started from code.
        """

        def register(f: Callable[..., Any] | Workflow[Any, Any]) -> Workflow[Any, Any]:
            # A plain function becomes a workflow of this server only (not of the process-wide catalog).
            wf: Workflow[Any, Any] = f if isinstance(f, Workflow) else Workflow(f, timeout=timeout)
            tool_name = name or wf.name
            self._check_name(tool_name)
            spec = DurableToolSpec(
                name=tool_name,
                description=description or (wf.__doc__ or "").strip() or f"Run the {wf.name} workflow.",
                title=title,
                wait_seconds=self._start_wait(wait_seconds),
                max_wait_seconds=self.max_wait_seconds,
                require_idempotency_key=require_idempotency_key,
                max_argument_bytes=self.max_argument_bytes,
                human_input=human_input,
                style=self.tool_style,
            )
            self._add_tool(DurableTool(wf, spec, self._engine, self._feed))
            return wf

        if fn is not None:
            return register(fn)
        return register

    def _check_name(self, tool_name: str) -> None:
        if tool_name in self.durable_tools:
            raise ToolDefinitionError(f"a durable tool named {tool_name!r} already exists")
        if self.tool_style is ToolStyle.COMPACT and tool_name in SHARED_TOOL_NAMES:
            raise ToolDefinitionError(f"{tool_name!r} is a shared tool of the compact style; rename the tool")

    def _add_tool(self, tool: DurableTool) -> None:
        """Serve ``tool``: its workflow, its tools, its progress view (``apps``), the shared compact tools."""
        self.catalog.add(tool.workflow)
        self.app.add_workflow(tool.workflow)
        register_durable_tool(self.mcp, tool)
        if self._features.apps:
            register_view(self.mcp, tool)
        self._add_shared_tools(tool)
        self.durable_tools[tool.spec.name] = tool

    def _add_shared_tools(self, tool: DurableTool) -> None:
        """Compact style: add the shared tools with the first durable tool.

        ``runs_respond`` comes with the first tool that takes human input, so it is listed only when useful.
        """
        if self.tool_style is not ToolStyle.COMPACT:
            return
        if not self.durable_tools:
            register_shared_tools(self.mcp, self._shared)
        if tool.spec.human_input and not any(t.spec.human_input for t in self.durable_tools.values()):
            register_shared_respond(self.mcp, self._shared)

    def _start_wait(self, wait_seconds: float | None) -> float:
        """How long a start tool waits for the result: the server's default, capped by its maximum."""
        return self.start_wait_seconds if wait_seconds is None else min(wait_seconds, self.max_wait_seconds)

    def add_resolve_tool(self, name: str = DEFAULT_RESOLVE_TOOL) -> None:
        """Opt in to the admin tool that answers ``outcome_unknown`` runs (see docs/at-most-once.md).

        Add it only where the server's clients are operators: the answer decides whether a step with
        outside effects (a payment, an e-mail) counts as done or runs again.
        """
        register_resolve_tool(self.mcp, self._engine, name)

    def add_run_control_tools(self, prefix: str = DEFAULT_CONTROL_PREFIX) -> None:
        """Opt in to the run-control admin tools ``<prefix>_retry/_fork/_pause/_unpause/_terminate``.

        Add them only where the server's clients are operators (see docs/run-control.md). The
        constructor keyword ``run_control_tools=True`` (or ``="<prefix>"``) does the same.

        Raises:
            ToolDefinitionError: ``prefix`` is not 1-64 letters, digits, ``_``, ``-`` or ``.``.
        """
        register_control_tools(self.mcp, self._engine, control_prefix(prefix))

    def tool(
        self, name: str | None = None, *, description: str | None = None, **options: Any
    ) -> Callable[[F], F]:
        """Register an ordinary (non-durable) tool; same options as ``MCPServer.tool``."""
        return self.mcp.tool(name, description=description, **options)

    def prompt(
        self, name: str | None = None, *, description: str | None = None, **options: Any
    ) -> Callable[[F], F]:
        """Register a prompt; it may read instances through ``server.storage``."""
        return self.mcp.prompt(name, description=description, **options)

    def resource(self, uri: str, **options: Any) -> Callable[[F], F]:
        """Register an extra resource; same options as ``MCPServer.resource``."""
        return self.mcp.resource(uri, **options)

    # -- lifecycle ---------------------------------------------------------------------------------
    @asynccontextmanager
    async def running(self) -> AsyncIterator[EddaMCPServer]:
        """Start the engine for the duration of the block (nested blocks share it).

        The engine stops when the last block exits, unless it was passed in as ``app=`` (you own it).
        """
        if self._users == 0 and self._stopped:
            self.app = self._new_app()  # a stopped engine cannot start again; serve with a fresh one
            self._stopped = False
        self._users += 1
        try:
            await self.app.initialize()  # idempotent
            yield self
        finally:
            self._users -= 1
            if self._users == 0 and self._owns_app:
                await self.app.shutdown()
                self._stopped = True

    @asynccontextmanager
    async def _mcp_lifespan(self, _: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        async with self.running():
            yield {}

    # -- transports --------------------------------------------------------------------------------
    def run(
        self,
        transport: Literal["stdio", "http", "streamable-http"] = "stdio",
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        **http_options: Any,
    ) -> None:
        """Serve until stopped: stdio (stdout carries only protocol messages) or streamable HTTP.

        ``http_options`` are :meth:`asgi_app` options. A non-loopback ``host`` without a token verifier
        prints a warning to stderr.
        """
        if transport == "stdio":
            run_stdio(self.mcp)
            return
        import uvicorn

        app = self.asgi_app(host=host, **http_options)
        warning = exposure_warning(host, self._token_verifier is not None)
        if warning:
            sys.stderr.write(warning)
        uvicorn.run(app, host=host, port=port, log_level="warning")

    def use_auth(self, token_verifier: TokenVerifier, auth: AuthSettings) -> None:
        """Require bearer tokens on HTTP (as ``token_verifier=``/``auth=`` do); for apps built afterwards."""
        self._token_verifier = token_verifier
        self._auth = auth
        self.mcp.settings.auth = auth
        self.mcp._token_verifier = token_verifier  # the SDK reads it when it builds the HTTP app

    def asgi_app(
        self,
        *,
        path: str = "/mcp",
        host: str = "127.0.0.1",
        allowed_hosts: Sequence[str] | None = None,
        allowed_origins: Sequence[str] | None = None,
        max_request_body_size: int = 1024 * 1024,
        json_response: bool = False,
        events_path: str | None = "/events",
        allow_unauthenticated_events: bool = False,
        public_url: str | None = None,
        stateful_sessions: bool = False,
        metrics_path: str | None = "/metrics",
        allow_unauthenticated_metrics: bool = False,
        console: bool = False,
    ) -> Starlette:
        """A streamable-HTTP ASGI app (stateless, so replicas can share the load) with ``/healthz``, ``/readyz``.

        The engine starts in the app's lifespan, i.e. inside the server's own event loop. When you
        mount it in another Starlette/FastAPI app, run its lifespan from yours (see docs/mcp-http.md).

        Args:
            path: where the MCP endpoint is served.
            host: the interface it is served on. Host/Origin checks are on for every interface.
            allowed_hosts: accepted ``Host`` headers (``"mcp.example.com"``, ``"127.0.0.1:*"``); default:
                the loopback names and ``public_url``'s host.
            allowed_origins: accepted ``Origin`` headers; default: loopback origins and ``public_url``'s.
            max_request_body_size: larger requests are refused with 413.
            json_response: always answer with plain JSON. By default a client that accepts
                ``text/event-stream`` gets an SSE response (so it sees ``notifications/progress``) and
                any other client gets JSON.
            events_path: where CloudEvents (``POST``) and cancels (``POST .../cancel/{id}``) are
                accepted into the engine. Served only with auth on (then they need a valid token with
                the required scopes, and a cancel must come from the instance's owner) or with
                ``allow_unauthenticated_events=True``.
            allow_unauthenticated_events: serve ``events_path`` without auth (only behind your own guard).
            public_url: the URL clients use for the MCP endpoint; its host and origin are allowed.
            stateful_sessions: keep a session per handshake-era client so it can be sent elicitation
                requests during a tool call (over SSE); needs sticky routing across replicas.
            metrics_path: where Prometheus metrics are served (needs the ``metrics`` extra; None: not
                served); with auth on a scrape needs a token, without it only on loopback (docs/metrics.md).
            allow_unauthenticated_metrics: serve ``metrics_path`` without auth on any interface.
            console: also serve the operations console under ``/console`` (docs/console.md).
        """
        options = HttpOptions(
            path=path,
            host=host,
            allowed_hosts=tuple(allowed_hosts) if allowed_hosts is not None else None,
            allowed_origins=tuple(allowed_origins) if allowed_origins is not None else None,
            max_request_body_size=max_request_body_size,
            json_response=json_response,
            events_path=events_path,
            allow_unauthenticated_events=allow_unauthenticated_events,
            public_url=public_url,
            stateful_sessions=stateful_sessions,
            metrics_path=metrics_path,
            allow_unauthenticated_metrics=allow_unauthenticated_metrics,
        )
        return self._assemble(options, console)

    def _assemble(self, options: HttpOptions, console: bool = False) -> Starlette:
        """The app of :meth:`asgi_app`: MCP endpoint, ``/events``, ``/metrics`` and ``/console`` per the auth rules."""
        scopes = list(self._auth.required_scopes or []) if self._auth is not None else []
        authorize = None if self._token_verifier is None else bearer_authorizer(self._token_verifier, scopes)
        events = None
        if authorize is not None or options.allow_unauthenticated_events:
            events = CloudEventsASGI(
                EngineSink(self._engine), max_body_bytes=options.max_request_body_size, authorize=authorize
            )
        probes = health_routes(lambda: self.app)
        app = build_asgi_app(self.mcp, options, events, probes + self._console_routes(console))
        mount_metrics(app, self._engine, options, self._token_verifier, scopes)
        return app

    def _console_routes(self, wanted: bool) -> list[BaseRoute]:
        """The console under ``/console`` for ``asgi_app(console=True)``, behind this server's verifier."""
        return console_routes(self.app, self.catalog, self._token_verifier, self._auth) if wanted else []


def _tool_style(value: ToolStyle | str) -> ToolStyle:
    """``value`` as a :class:`ToolStyle`; an unknown name is a :class:`ToolDefinitionError` naming the choices."""
    try:
        return ToolStyle(value)
    except ValueError:
        choices = ", ".join(repr(s.value) for s in ToolStyle)
        raise ToolDefinitionError(f"tool_style must be one of {choices}, not {value!r}") from None


__all__ = ["EddaMCPServer"]
