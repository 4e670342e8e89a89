"""Registering a durable tool's tools (inputs, output schemas, annotations, descriptions) on an MCPServer."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from edda_mcp.durable_tool import IDEMPOTENCY_PARAM, DurableTool
from edda_mcp.models import CancelOut, RespondOut, StatusOut
from edda_mcp.signatures import make_tool, param
from edda_mcp.tool_style import ToolStyle

InstanceIdArg = Annotated[str, Field(description="instance_id returned by the start tool")]
WaitArg = Annotated[float, Field(ge=0, description="seconds to wait for the workflow to finish (bounded)")]
KeyArg = Annotated[
    str | None,
    Field(
        max_length=200, description="optional idempotency key: retries with the same key return the same run"
    ),
]
DataArg = Annotated[dict[str, Any], Field(description="the answer, matching the schema _status shows")]
EventTypeArg = Annotated[
    str | None, Field(description="which input this answers (needed only when it waits for several)")
]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)


def register_durable_tool(mcp: MCPServer[Any], tool: DurableTool) -> None:
    """Add ``<name>``, ``<name>_status``, ``<name>_result``, ``<name>_cancel`` (and ``_respond``) to ``mcp``.

    In the compact style only ``<name>`` is added; the server's shared ``runs_*`` tools follow its runs.
    """
    start, status, result, cancel = tool.tool_names
    key_default: Any = param(IDEMPOTENCY_PARAM, KeyArg, None)
    if tool.spec.require_idempotency_key:
        key_default = param(IDEMPOTENCY_PARAM, Annotated[str, Field(min_length=1, max_length=200)])
    mcp.add_tool(
        make_tool(start, [*tool.params, key_default], tool.start_model, tool.start),
        name=start,
        title=tool.spec.title,
        description=start_description(tool),
        annotations=ToolAnnotations(
            title=tool.spec.title,
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=tool.spec.require_idempotency_key,
            open_world_hint=True,
        ),
    )
    if tool.spec.style is ToolStyle.COMPACT:
        return
    mcp.add_tool(
        make_tool(status, [param("instance_id", InstanceIdArg)], StatusOut, tool.status),
        name=status,
        description=f"Progress of a {start} run: state, steps completed, current step, what it waits for, "
        "and when to poll again.",
        annotations=READ_ONLY,
    )
    mcp.add_tool(
        make_tool(
            result,
            [param("instance_id", InstanceIdArg), param("wait_seconds", WaitArg, 0.0)],
            tool.result_model,
            tool.result,
        ),
        name=result,
        description=f"The result of a finished {start} run (an error says if it is not finished yet, "
        f"failed or was cancelled). wait_seconds (at most {tool.spec.max_wait_seconds:g}) waits for it.",
        annotations=READ_ONLY,
    )
    mcp.add_tool(
        make_tool(cancel, [param("instance_id", InstanceIdArg)], CancelOut, tool.cancel),
        name=cancel,
        description=f"Cancel a running or waiting {start} run; its compensations undo completed steps.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    if tool.spec.human_input:
        _register_respond(mcp, tool)


def _register_respond(mcp: MCPServer[Any], tool: DurableTool) -> None:
    start, status, _, _ = tool.tool_names
    mcp.add_tool(
        make_tool(
            tool.respond_tool_name,
            [
                param("instance_id", InstanceIdArg),
                param("data", DataArg),
                param("event_type", EventTypeArg, None),
            ],
            RespondOut,
            tool.respond,
        ),
        name=tool.respond_tool_name,
        description=f"Answer a {start} run that waits for human input ({status} shows what it waits "
        "for and the JSON schema of the answer).",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False),
    )


def start_description(tool: DurableTool) -> str:
    """The start tool's description: what it does and how to follow the run."""
    _, status, result, cancel = tool.tool_names
    wait = (
        f"waits up to {tool.spec.wait_seconds:g}s and returns the result if it finishes by then, "
        "otherwise returns at once with"
        if tool.spec.wait_seconds > 0
        else "returns at once with"
    )
    return (
        f"{tool.spec.description}\n\nStarts a durable workflow run that survives restarts; {wait} an "
        f"instance_id. Then call {status} to follow it, {result} to fetch the result and {cancel} to "
        f"cancel it. Pass {IDEMPOTENCY_PARAM} to make retries return the same run."
    )
