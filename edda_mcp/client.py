"""``DurableMCPClient``: call tools of other MCP servers from a workflow, durably.

The first ``list_tools`` of a run and every ``call_tool`` are activities: done live once (with the
activity's retries when the connection fails), recorded, and replayed from history after a crash or a
timer - a completed tool call is never sent again. Later ``list_tools`` calls of the same run return the
recorded list from the run's memo (``ctx.run_memo``) without a step of their own. Each activity attempt opens its own connection (streamable HTTP or a
stdio subprocess) and closes it, so nothing outlives a crashed process.

Auth headers are resolved inside the activity at call time, from a callable or an environment variable
name, and are never part of the recorded arguments or results.

It lives in ``edda_mcp`` (not ``durable_core``, which must not import ``mcp``, nor ``integrations/``,
which adapts third-party libraries behind optional extras): the MCP SDK is already a dependency here.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, Tool

from durable_core import (
    Activity,
    ConfigurationError,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
)

__all__ = ["DurableMCPClient", "HeaderSource", "MCPClientError", "MCPSecretMissingError"]

HeaderSource = Callable[[], Mapping[str, str] | Awaitable[Mapping[str, str]]] | str
"""Where auth headers come from: a callable (sync or async) returning the headers, or the name of an
environment variable holding a bearer token (sent as ``Authorization: Bearer <value>``)."""

#: JSON-RPC errors a retry cannot fix: the request itself is wrong (parse, request, method, params)
_REQUEST_ERRORS: Final = frozenset({-32700, -32600, -32601, -32602})
LIST_TOOLS: Final = "mcp.list_tools"
T = TypeVar("T")
CALL_TOOL: Final = "mcp.call_tool"
#: memo value while the first ``list_tools`` of a run is in flight
_LISTING: Final = object()


class MCPClientError(TerminalError):
    """The other MCP server rejected the request itself (unknown tool, invalid arguments): not retried."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MCPSecretMissingError(TerminalError):
    """The environment variable named as the header source is not set (a configuration error)."""


class DurableMCPClient:
    """A client of one MCP server whose calls are recorded activities.

    Args:
        url: the server's streamable HTTP endpoint (``http://127.0.0.1:8000/mcp``).
        stdio: or the command that runs the server as a subprocess (``StdioServerParameters``).
        headers: auth headers for ``url``, resolved at each call (see :data:`HeaderSource`).
        name: stable name used in activity names (default: the URL's host and port, or the command's
            name); keep it stable across deploys: it is checked on replay.
        retry_policy: retries of each call (connection failures); default: the app's policy.
        timeout: seconds one attempt may take.

    Raises:
        ConfigurationError: neither or both of ``url``/``stdio``, or ``headers`` with ``stdio``.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        stdio: StdioServerParameters | None = None,
        headers: HeaderSource | None = None,
        name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        if (url is None) == (stdio is None):
            raise ConfigurationError("DurableMCPClient needs exactly one of url= or stdio=")
        if stdio is not None and headers is not None:
            raise ConfigurationError(
                "headers= apply to url= servers; pass secrets to a stdio server in stdio.env"
            )
        if headers is not None and not (callable(headers) or isinstance(headers, str)):
            raise ConfigurationError(
                f"headers must be a callable returning the headers or an environment variable name, got "
                f"{type(headers).__name__} (headers are never written to history, so give a source, not values)"
            )
        self.url = url
        self.stdio = stdio
        self._headers = headers
        self.name = name or _default_name(url, stdio)
        self._list: Activity[Any, Any] = Activity(
            self._list_tools, name=f"{LIST_TOOLS}:{self.name}", retry_policy=retry_policy, timeout=timeout
        )
        self._call: Activity[Any, Any] = Activity(
            self._call_tool, name=f"{CALL_TOOL}:{self.name}", retry_policy=retry_policy, timeout=timeout
        )

    async def list_tools(self, ctx: WorkflowContext) -> list[Tool]:
        """The server's tools, listed once per run of the workflow.

        The first call of a run is an activity (recorded, replayed from history afterwards); later calls
        in the same run - and in every replay of it - return that recorded list without a history entry
        or a request. A new run (``ctx.recur``) lists again. Inside an activity, each call is a plain,
        live request, as every activity called from an activity is.
        """
        if ctx.in_activity:
            return _tools(await self._list(ctx))
        memo, key = ctx.run_memo, f"{LIST_TOOLS}:{self.name}"
        cached = memo.get(key)
        if isinstance(cached, list):
            return _tools(cached)
        # Only the call that started listing first fills the memo: calls made while it is in flight
        # (asyncio.gather) take steps of their own, so the choice does not depend on which finishes first.
        first = cached is None
        if first:
            memo.put(key, _LISTING)
        try:
            recorded = await self._list(ctx)
        except BaseException:
            if first:
                memo.put(key, None)  # not listed: the next call of this run tries again
            raise
        if first:
            memo.put(key, recorded)
        return _tools(recorded)

    async def call_tool(
        self, ctx: WorkflowContext, name: str, arguments: Mapping[str, Any] | None = None
    ) -> CallToolResult:
        """Call tool ``name`` once (an activity, retried on connection failures) and return its result.

        A result with ``is_error`` set is recorded like any other (the tool ran and reported a failure).

        Raises:
            MCPClientError: the server rejected the request (unknown tool, invalid arguments).
        """
        recorded = await self._call(ctx, name, dict(arguments or {}))
        return CallToolResult.model_validate(recorded)

    # -- activity bodies (live only) --------------------------------------------------------------------
    async def _list_tools(self, ctx: WorkflowContext) -> list[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            client = await self._connect(stack)
            tools: list[Tool] = []
            cursor: str | None = None
            while True:
                page = await _guard(client.list_tools(cursor=cursor))
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]

    async def _call_tool(self, ctx: WorkflowContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        async with AsyncExitStack() as stack:
            client = await self._connect(stack)
            result = await _guard(client.call_tool(name, arguments))
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def _connect(self, stack: AsyncExitStack) -> Client:
        if self.stdio is not None:
            return await stack.enter_async_context(Client(self.stdio))
        assert self.url is not None
        http = await stack.enter_async_context(create_mcp_http_client(headers=await self._resolve_headers()))
        return await stack.enter_async_context(Client(streamable_http_client(self.url, http_client=http)))

    async def _resolve_headers(self) -> dict[str, str]:
        source = self._headers
        if source is None:
            return {}
        if isinstance(source, str):
            token = os.environ.get(source)
            if not token:
                raise MCPSecretMissingError(
                    f"environment variable {source} (the bearer token for MCP server {self.name}) is not set"
                )
            return {"Authorization": f"Bearer {token}"}
        produced = source()
        if inspect.isawaitable(produced):
            produced = await produced
        return dict(produced)

    def __repr__(self) -> str:
        return f"<DurableMCPClient {self.name}>"


def _tools(recorded: Any) -> list[Tool]:
    """Fresh ``Tool`` objects from the recorded JSON (callers may change them without touching the memo)."""
    return [Tool.model_validate(tool) for tool in recorded]


async def _guard(call: Awaitable[T]) -> T:
    """Turn request errors the server reports into terminal errors; anything else stays retryable."""
    try:
        return await call
    except MCPError as exc:
        if exc.code in _REQUEST_ERRORS:
            raise MCPClientError(
                f"the MCP server rejected the request: {exc.error.message}", exc.code
            ) from None
        raise


def _default_name(url: str | None, stdio: StdioServerParameters | None) -> str:
    if url is not None:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname or url)
    assert stdio is not None
    return os.path.basename(stdio.command) + "".join(f" {a}" for a in stdio.args[:2])
