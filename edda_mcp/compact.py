"""The compact tool style: shared ``runs_status``/``_result``/``_cancel``/``_respond``/``_list`` tools.

Each shared tool takes an instance id, finds which of the server's durable tools started that run and
answers exactly as that tool's own ``_status``/``_result``/... would (same output schemas, same
errors), so a host sees one start tool per durable tool plus five tools, however many durable tools
the server has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import Field

from durable_core import EddaApp, EddaError, InstanceNotFoundError, InstanceStatus
from edda_mcp import access
from edda_mcp.durable_tool import DurableTool
from edda_mcp.models import CancelOut, RespondOut, RunListOut, RunResultOut, StatusOut
from edda_mcp.registration import READ_ONLY, DataArg, EventTypeArg, InstanceIdArg, WaitArg
from edda_mcp.results import ErrorCode, error, ok
from edda_mcp.run_list import BadCursorError, RunQuery, as_utc, decode_cursor, list_runs
from edda_mcp.signatures import make_tool, param
from edda_mcp.tool_style import RUNS_CANCEL, RUNS_LIST, RUNS_RESPOND, RUNS_RESULT, RUNS_STATUS

ToolFilterArg = Annotated[str | None, Field(description="only runs started by this tool")]
StatusFilterArg = Annotated[
    list[InstanceStatus] | None,
    Field(description='only runs in one of these states (e.g. ["waiting", "running"] for unfinished runs)'),
]
AfterArg = Annotated[datetime | None, Field(description="only runs created at or after this time (ISO 8601)")]
BeforeArg = Annotated[datetime | None, Field(description="only runs created before this time (ISO 8601)")]
LimitArg = Annotated[int, Field(ge=1, le=100, description="most runs to return")]
CursorArg = Annotated[str | None, Field(max_length=500, description="next_cursor of the previous page")]
DEFAULT_LIST_LIMIT = 20


class SharedRunTools:
    """Bodies of the shared tools over a server's durable tools (looked up at call time)."""

    def __init__(self, tools: Callable[[], Mapping[str, DurableTool]], app: Callable[[], EddaApp]) -> None:
        self._tools = tools
        self._app = app

    async def owner(self, instance_id: str) -> DurableTool | CallToolResult:
        """The durable tool whose run ``instance_id`` is, if the caller may see it; else an error result."""
        unknown = error(
            ErrorCode.UNKNOWN_INSTANCE,
            f"No run of this server has instance_id {instance_id!r}. Use the instance_id a start tool "
            f"returned, or {RUNS_LIST} to find your runs.",
            instance_id=instance_id,
        )
        if not access.may_access(access.current_principal(), instance_id):
            return unknown  # never reveal that another principal's instance exists
        try:
            record = await self._app().get_instance(instance_id)
        except InstanceNotFoundError:
            return unknown
        except EddaError as exc:
            return error(ErrorCode.UNAVAILABLE, f"Cannot read instance {instance_id!r} right now: {exc}")
        for tool in self._tools().values():
            if tool.workflow.name == record.workflow_name:
                return tool
        return unknown  # a run of a workflow this server does not expose as a tool

    async def status(self, ctx: Context, instance_id: str) -> CallToolResult:
        """Body of ``runs_status``."""
        tool = await self.owner(instance_id)
        return tool if isinstance(tool, CallToolResult) else await tool.status(ctx, instance_id)

    async def result(
        self, ctx: Context, instance_id: str, wait_seconds: float
    ) -> CallToolResult | InputRequiredResult:
        """Body of ``runs_result``."""
        tool = await self.owner(instance_id)
        return tool if isinstance(tool, CallToolResult) else await tool.result(ctx, instance_id, wait_seconds)

    async def cancel(self, ctx: Context, instance_id: str) -> CallToolResult:
        """Body of ``runs_cancel``."""
        tool = await self.owner(instance_id)
        return tool if isinstance(tool, CallToolResult) else await tool.cancel(ctx, instance_id)

    async def respond(
        self, ctx: Context, instance_id: str, data: dict[str, Any], event_type: str | None
    ) -> CallToolResult:
        """Body of ``runs_respond``."""
        tool = await self.owner(instance_id)
        if isinstance(tool, CallToolResult):
            return tool
        if not tool.spec.human_input:
            return error(
                ErrorCode.INVALID_INPUT,
                f"Instance {instance_id} is a {tool.spec.name} run, which takes no human input.",
                instance_id=instance_id,
            )
        return await tool.respond(ctx, instance_id, data, event_type)

    async def list(
        self,
        ctx: Context,
        tool: str | None,
        status: list[InstanceStatus] | None,
        created_after: datetime | None,
        created_before: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> CallToolResult:
        """Body of ``runs_list``."""
        tools = self._tools()
        if tool is not None and tool not in tools:
            return error(
                ErrorCode.INVALID_INPUT,
                f"No durable tool is named {tool!r}; the tools are: {', '.join(sorted(tools))}.",
            )
        try:
            position = decode_cursor(cursor) if cursor else None
        except BadCursorError as exc:
            return error(ErrorCode.INVALID_INPUT, f"{exc}; omit it to list the newest runs.")
        chosen = [tools[tool]] if tool is not None else list(tools.values())
        query = RunQuery(
            workflows={t.workflow.name: t.spec.name for t in chosen},
            statuses=frozenset(status or ()),
            created_after=as_utc(created_after) if created_after else None,
            created_before=as_utc(created_before) if created_before else None,
            limit=limit,
            cursor=position,
        )
        try:
            listing = await list_runs(self._app(), query, access.current_principal())
        except EddaError as exc:
            return error(ErrorCode.UNAVAILABLE, f"Cannot list runs right now: {exc}")
        return ok(listing, _list_text(listing))


def _list_text(listing: RunListOut) -> str:
    lines = [f"{len(listing.runs)} run(s), newest first."]
    lines += [
        f"- {r.instance_id} ({r.tool}) {r.status}, created {r.created_at.isoformat()}" for r in listing.runs
    ]
    if listing.next_cursor:
        lines.append(f"More may exist: call {RUNS_LIST} again with cursor={listing.next_cursor}.")
    return "\n".join(lines)


def register_shared_tools(mcp: MCPServer[Any], shared: SharedRunTools) -> None:
    """Add ``runs_status``, ``runs_result``, ``runs_cancel`` and ``runs_list`` to ``mcp``."""
    iid = param("instance_id", InstanceIdArg)
    mcp.add_tool(
        make_tool(RUNS_STATUS, [iid], StatusOut, shared.status),
        name=RUNS_STATUS,
        description="Progress of a run started by any of this server's tools: state, steps completed, "
        "current step, what it waits for, and when to poll again.",
        annotations=READ_ONLY,
    )
    mcp.add_tool(
        make_tool(RUNS_RESULT, [iid, param("wait_seconds", WaitArg, 0.0)], RunResultOut, shared.result),
        name=RUNS_RESULT,
        description="The result of a finished run of any of this server's tools (an error says if it is not "
        "finished yet, failed or was cancelled). wait_seconds (bounded) waits for it.",
        annotations=READ_ONLY,
    )
    mcp.add_tool(
        make_tool(RUNS_CANCEL, [iid], CancelOut, shared.cancel),
        name=RUNS_CANCEL,
        description="Cancel a running or waiting run; its compensations undo completed steps.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    filters = [
        param("tool", ToolFilterArg, None),
        param("status", StatusFilterArg, None),
        param("created_after", AfterArg, None),
        param("created_before", BeforeArg, None),
        param("limit", LimitArg, DEFAULT_LIST_LIMIT),
        param("cursor", CursorArg, None),
    ]
    mcp.add_tool(
        make_tool(RUNS_LIST, filters, RunListOut, shared.list),
        name=RUNS_LIST,
        description="Your runs of this server's tools, newest first, filtered by tool, status and creation "
        "time: find a run whose instance_id you lost. Pass next_cursor as cursor for older runs.",
        annotations=READ_ONLY,
    )


def register_shared_respond(mcp: MCPServer[Any], shared: SharedRunTools) -> None:
    """Add ``runs_respond`` (once a durable tool takes human input)."""
    mcp.add_tool(
        make_tool(
            RUNS_RESPOND,
            [
                param("instance_id", InstanceIdArg),
                param("data", DataArg),
                param("event_type", EventTypeArg, None),
            ],
            RespondOut,
            shared.respond,
        ),
        name=RUNS_RESPOND,
        description=f"Answer a run that waits for human input ({RUNS_STATUS} shows what it waits for and the "
        "JSON schema of the answer).",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False),
    )
