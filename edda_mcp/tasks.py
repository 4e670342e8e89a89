"""The ``io.modelcontextprotocol/tasks`` extension: a durable tool call answered with a task.

For clients that declare the extension on the request, ``tools/call`` of a durable tool returns a
``CreateTaskResult`` whose ``taskId`` *is* the workflow instance id (unguessable, and created durably
before the reply). ``tasks/get`` reads the instance, so tasks survive restarts and any replica serves
them; ``tasks/update`` delivers human input; ``tasks/cancel`` cancels the workflow. Clients that did not
declare the extension get ordinary tool results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolRequestParams, CallToolResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from durable_core import EddaApp, InstanceRecord, InstanceStatus
from edda_mcp import human
from edda_mcp.status import read_status
from edda_mcp.task_models import TASKS_EXTENSION, TaskIdParams, TaskState, TaskStatus, UpdateTaskParams

if TYPE_CHECKING:
    from edda_mcp.durable_tool import DurableTool

_STATUS: Mapping[InstanceStatus, TaskStatus] = {
    InstanceStatus.PENDING: "working",
    InstanceStatus.RUNNING: "working",
    InstanceStatus.WAITING: "working",
    InstanceStatus.COMPENSATING: "working",
    InstanceStatus.BLOCKED: "working",
    InstanceStatus.PAUSED: "working",  # an operator paused it; it continues once unpaused
    InstanceStatus.QUEUED: "working",  # behind a singleton key's holder; it runs once handed the key
    InstanceStatus.OUTCOME_UNKNOWN: "working",  # an operator answers through the API, CLI or admin tool
    InstanceStatus.COMPLETED: "completed",
    InstanceStatus.FAILED: "completed",  # a failed workflow is a tool error (isError), not a JSON-RPC error
    InstanceStatus.CANCELLED: "cancelled",
}


def client_declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request comes from a 2026-07-28 client that declared the tasks extension."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    extensions = capabilities.extensions if capabilities is not None else None
    return bool(extensions) and TASKS_EXTENSION in (extensions or {})


class DurableTasks(Extension):
    """Serves durable tools as tasks to clients that declare ``io.modelcontextprotocol/tasks``."""

    identifier = TASKS_EXTENSION

    def __init__(self, tools: Callable[[], Mapping[str, DurableTool]], app: Callable[[], EddaApp]) -> None:
        self._tools = tools
        self._app = app

    def methods(self) -> Sequence[MethodBinding]:
        """``tasks/get``, ``tasks/update`` and ``tasks/cancel``."""
        return (
            MethodBinding("tasks/get", TaskIdParams, self._get),
            MethodBinding("tasks/update", UpdateTaskParams, self._update),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel),
        )

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """Answer a durable tool's start with a task when the client declared the extension."""
        tool = self._tools().get(params.name)
        if tool is None or not client_declared(ctx):
            return await call_next(ctx)
        created = await tool.create(dict(params.arguments or {}))
        if isinstance(created, CallToolResult):
            return created  # invalid input: an ordinary tool error, no task
        record = await self._app().get_instance(created)
        state = await self._state(tool, record)
        return state.wire("task")

    # -- methods -------------------------------------------------------------------------------------
    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> HandlerResult:
        tool, record = await self._lookup(ctx, params.task_id)
        return (await self._state(tool, record)).wire("complete")

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> HandlerResult:
        tool, record = await self._lookup(ctx, params.task_id)
        outstanding = {key: request for key, request in (await self._input_requests(record)).items()}
        for key, response in params.input_responses.items():
            request = outstanding.get(key)
            if request is None or not isinstance(response, dict) or response.get("action") != "accept":
                continue  # unknown, already answered or declined keys are ignored (per the spec)
            try:
                await tool.answer(record, request.event_type, dict(response.get("content") or {}))
            except human.InputProblem as exc:
                raise MCPError(code=INVALID_PARAMS, message=f"inputResponses[{key!r}]: {exc}") from None
        return {"resultType": "complete"}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> HandlerResult:
        _, record = await self._lookup(ctx, params.task_id)
        await asyncio.shield(
            self._app().cancel(record.instance_id, reason="tasks/cancel", cancelled_by="mcp-tasks")
        )
        return {"resultType": "complete"}

    # -- helpers -------------------------------------------------------------------------------------
    async def _lookup(
        self, ctx: ServerRequestContext[Any, Any], task_id: str
    ) -> tuple[DurableTool, InstanceRecord]:
        if not client_declared(ctx):
            raise MCPError(
                code=-32021,
                message="Missing required client capability",
                data={"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
            )
        for tool in self._tools().values():
            found = await tool.find(task_id)
            if isinstance(found, InstanceRecord):
                return tool, found
        raise MCPError(code=INVALID_PARAMS, message="Failed to retrieve task: Task not found")

    async def _input_requests(self, record: InstanceRecord) -> dict[str, human.InputRequest]:
        if record.status is not InstanceStatus.WAITING:
            return {}
        progress = await self._app().get_progress(record.instance_id)
        # the key names how many steps were done before this wait, so it is never reused within the task
        return {
            f"{request.event_type}@{progress.steps_completed}": request
            for request in await human.pending_inputs(self._app(), record)
            if request.schema
        }

    async def _state(self, tool: DurableTool, record: InstanceRecord) -> TaskState:
        app = self._app()
        status = await read_status(app, record)
        task_status = _STATUS[record.status]
        inputs = await self._input_requests(record) if tool.spec.human_input else {}
        result: dict[str, Any] | None = None
        if task_status == "completed":
            final = await tool.task_result(app, record)
            result = final.model_dump(by_alias=True, mode="json", exclude_none=True)
        message = f"{status.steps_completed} step(s) completed" + (
            f"; last completed: {status.last_completed_step}" if status.last_completed_step else ""
        )
        if record.status is InstanceStatus.BLOCKED:
            message = f"blocked: {record.blocked_reason or 'replay diverged'}; an operator must resume it"
        return TaskState(
            task_id=record.instance_id,
            status="input_required" if inputs else task_status,
            status_message=message,
            created_at=_iso(record.created_at),
            last_updated_at=_iso(record.updated_at),
            ttl_ms=None,
            poll_interval_ms=int(status.poll_interval_seconds * 1000) or None,
            input_requests={key: _elicitation(record, r) for key, r in inputs.items()} or None,
            result=result,
        )


def _elicitation(record: InstanceRecord, request: human.InputRequest) -> dict[str, Any]:
    title = request.schema.get("title") or request.event_type
    return {
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": f"{record.workflow_name} (task {record.instance_id}) needs input: {title}",
            "requestedSchema": request.schema,
        },
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
