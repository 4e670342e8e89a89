"""The 2025-11-25 experimental tasks form: a durable tool call answered with a task.

On connections that negotiated protocol 2025-11-25 the server declares the ``tasks`` capability
(``list``, ``cancel``, ``requests.tools.call``) and marks each durable start tool
``execution.taskSupport: "optional"``. A ``tools/call`` that carries ``params.task`` gets a
``CreateTaskResult`` whose ``taskId`` is the workflow instance id, committed before the reply; calls
without it get ordinary results. ``tasks/get``, ``tasks/result`` (blocks until the run ends, asking for
human input through elicitation on the way), ``tasks/list`` (the caller's tasks) and ``tasks/cancel``
read and steer the instance in the database, so any replica serves them and they survive restarts.

The SDK keeps these methods out of its 2025-11-25 surface, so this is a server middleware: it answers
them itself and leaves everything else to the SDK.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mcp import types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.types import INVALID_PARAMS, METHOD_NOT_FOUND
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from durable_core import EddaApp, InstanceRecord
from edda_mcp import human
from edda_mcp.task_models import TaskStatus
from edda_mcp.task_states import Task, list_page, task_of

if TYPE_CHECKING:
    from edda_mcp.durable_tool import DurableTool
    from edda_mcp.feed import ChangeFeed

PROTOCOL = "2025-11-25"
RELATED_TASK = "io.modelcontextprotocol/related-task"
IMMEDIATE_RESPONSE = "io.modelcontextprotocol/model-immediate-response"
CAPABILITY: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
_Params = TypeVar("_Params", bound=BaseModel)
RECHECK_SECONDS = 0.5
"""``tasks/result`` re-reads the instance this often: it may run on another replica."""


class _TaskIdParams(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task_id: str = Field(alias="taskId", min_length=1, max_length=300)


class _ListParams(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cursor: str | None = None


class _TaskParams(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ttl: int | None = Field(None, ge=0)


class _StatusNotification(BaseModel):
    method: str = "notifications/tasks/status"
    params: dict[str, Any]


class LegacyTasks:
    """Server middleware serving the 2025-11-25 tasks form for the durable tools of one server."""

    def __init__(
        self,
        tools: Callable[[], Mapping[str, DurableTool]],
        app: Callable[[], EddaApp],
        feed: ChangeFeed,
    ) -> None:
        self._tools = tools
        self._app = app
        self._feed = feed

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Answer the task methods of 2025-11-25 connections; pass everything else on."""
        method = ctx.method
        if method == "initialize":
            return _declare_capability(ctx, await call_next(ctx))
        if ctx.protocol_version != PROTOCOL or ctx.request_id is None:
            return await call_next(ctx)
        params: Mapping[str, Any] = ctx.params or {}
        if method == "tools/list":
            return self._mark_tools(await call_next(ctx))
        if method == "tools/call" and params.get("task") is not None:
            return await self._create(ctx, params)
        handler = {
            "tasks/get": self._get,
            "tasks/result": self._result,
            "tasks/cancel": self._cancel,
        }.get(method)
        if handler is not None:
            return await handler(ctx, _parse(_TaskIdParams, params).task_id)
        if method == "tasks/list":
            tasks, cursor = await list_page(self._app(), self._tools(), _parse(_ListParams, params).cursor)
            page: dict[str, Any] = {"tasks": [task.wire() for task in tasks]}
            if cursor is not None:
                page["nextCursor"] = cursor
            return page
        return await call_next(ctx)

    # -- tools ---------------------------------------------------------------------------------------
    def _mark_tools(self, listed: HandlerResult) -> HandlerResult:
        starts = set(self._tools())
        if not isinstance(listed, dict):
            return listed
        for tool in cast("list[dict[str, Any]]", listed.get("tools") or []):
            if tool.get("name") in starts:
                tool["execution"] = {"taskSupport": "optional"}
        return listed

    async def _create(self, ctx: ServerRequestContext[Any, Any], params: Mapping[str, Any]) -> HandlerResult:
        _parse(_TaskParams, params.get("task"))  # a ttl is accepted; tasks live as long as their run
        tool = self._tools().get(str(params.get("name")))
        if tool is None:
            raise MCPError(
                code=METHOD_NOT_FOUND,
                message=f"Tool {params.get('name')!r} does not support task-augmented calls",
            )
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise MCPError(code=INVALID_PARAMS, message="tools/call: arguments must be an object")
        created = await tool.create(dict(arguments))
        if isinstance(created, types.CallToolResult):
            return created.model_dump(by_alias=True, mode="json", exclude_none=True)  # bad input: no task
        task = await task_of(self._app(), tool, await self._app().get_instance(created))
        return {
            "task": task.wire(),
            "_meta": {
                IMMEDIATE_RESPONSE: (
                    f"Started {tool.spec.name} as task {task.task_id}; it runs in the background and "
                    f"survives restarts. Its result arrives when it finishes (or call {tool.tool_names[2]} "
                    f"with instance_id {task.task_id})."
                )
            },
        }

    # -- task methods --------------------------------------------------------------------------------
    async def _get(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> HandlerResult:
        tool, record = await self._lookup(task_id)
        return (await task_of(self._app(), tool, record)).wire()

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> HandlerResult:
        tool, record = await self._lookup(task_id)
        task = await task_of(self._app(), tool, record)
        if task.terminal:
            raise MCPError(
                code=INVALID_PARAMS, message=f"Cannot cancel task: already in terminal status {task.status!r}"
            )
        await asyncio.shield(
            self._app().cancel(record.instance_id, reason="tasks/cancel", cancelled_by="mcp-tasks")
        )
        tool, record = await self._lookup(task_id)
        return (await task_of(self._app(), tool, record)).wire()

    async def _result(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> HandlerResult:
        """Block until the task ends; ask for its input meanwhile; return the tool's final result."""
        tool, record = await self._lookup(task_id)
        app = self._app()
        sent: TaskStatus | None = None
        asked_at: str | None = None  # ask once per wait: a declined question is not repeated every recheck
        with self._feed.watch(task_id) as changed:
            while True:
                changed.clear()
                record = await app.get_instance(task_id)
                task = await task_of(app, tool, record)
                if task.status != sent:
                    await _notify_status(ctx, task)
                    sent = task.status
                if record.status.is_finished:
                    final = await tool.task_result(app, record)
                    body = final.model_dump(by_alias=True, mode="json", exclude_none=True)
                    body["_meta"] = {**(body.get("_meta") or {}), RELATED_TASK: {"taskId": task_id}}
                    return body
                if task.status == "input_required" and asked_at != task.last_updated_at:
                    asked_at = task.last_updated_at
                    if await self._elicit(ctx, tool, record):
                        continue
                try:
                    async with asyncio.timeout(RECHECK_SECONDS):
                        await changed.wait()
                except TimeoutError:
                    pass

    async def _elicit(
        self, ctx: ServerRequestContext[Any, Any], tool: DurableTool, record: InstanceRecord
    ) -> bool:
        """Ask the client (elicitation tied to the task) for the one input the run waits for."""
        capabilities = ctx.session.client_capabilities
        if capabilities is None or capabilities.elicitation is None:
            return False
        question = human.question_for(record, await human.pending_inputs(self._app(), record))
        if question is None:
            return False
        request, message = question
        elicit = types.ElicitRequest(
            params=types.ElicitRequestFormParams.model_validate(
                {
                    "message": message,
                    "requestedSchema": request.schema,
                    "_meta": {RELATED_TASK: {"taskId": record.instance_id}},  # ties it to the task
                }
            )
        )
        try:
            answer = await ctx.session.send_request(
                elicit, types.ElicitResult, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
            )
        except Exception:  # no back-channel or the client refused: it may answer with the respond tool
            return False
        if answer.action != "accept" or answer.content is None:
            return False
        try:
            await tool.answer(record, request.event_type, dict(answer.content))
        except human.InputProblem:
            return False
        return True

    async def _lookup(self, task_id: str) -> tuple[DurableTool, InstanceRecord]:
        for tool in self._tools().values():
            found = await tool.find(task_id)
            if isinstance(found, InstanceRecord):
                return tool, found
        raise MCPError(code=INVALID_PARAMS, message="Failed to retrieve task: Task not found")


def _declare_capability(ctx: ServerRequestContext[Any, Any], result: HandlerResult) -> HandlerResult:
    """Add the ``tasks`` capability to an ``initialize`` result that negotiated 2025-11-25."""
    if isinstance(result, dict) and result.get("protocolVersion") == PROTOCOL:
        capabilities = cast("dict[str, Any]", result.setdefault("capabilities", {}))
        capabilities["tasks"] = CAPABILITY
    return result


async def _notify_status(ctx: ServerRequestContext[Any, Any], task: Task) -> None:
    """``notifications/tasks/status`` on the open ``tasks/result`` request (best effort)."""
    # A plain dict keeps ``ttl: null`` (required by the schema) through the session's exclude_none dump.
    notification = _StatusNotification(params=task.wire())
    try:
        await ctx.session.send_notification(
            cast("types.ServerNotification", notification), related_request_id=ctx.request_id
        )
    except Exception:  # a closed stream only loses this optional notification
        return


def _parse(model: type[_Params], params: object) -> _Params:
    try:
        return model.model_validate(params if params is not None else {})
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
        raise MCPError(code=INVALID_PARAMS, message=f"Invalid params: {problem}") from None
