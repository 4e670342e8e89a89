"""Client side of the tasks extension: ``Client(server, extensions=[TasksClient()])``.

With it, ``client.call_tool`` on a durable tool receives a task, polls ``tasks/get`` (honouring the
server's ``pollIntervalMs``), answers ``input_required`` through ``on_input`` and returns the final
``CallToolResult`` — so a call survives the tool running longer than one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp.types import CallToolResult, TextContent

from edda_mcp.task_models import (
    TASKS_EXTENSION,
    Ack,
    CancelTaskRequest,
    CreateTaskResult,
    GetTaskRequest,
    TaskIdParams,
    TaskResult,
    UpdateTaskParams,
    UpdateTaskRequest,
)

InputHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
"""``(key, elicitation params) -> content to accept`` (None declines)."""


class TasksClient(ClientExtension):
    """Declares ``io.modelcontextprotocol/tasks`` and resolves task results by polling.

    Args:
        on_input: answers an ``input_required`` request (its ``elicitation/create`` params).
        max_poll_seconds: never wait longer than this between polls.
        on_created: called with each task id as soon as the server answers (persist it to resume).
    """

    identifier = TASKS_EXTENSION

    def __init__(
        self,
        on_input: InputHandler | None = None,
        *,
        max_poll_seconds: float = 5.0,
        on_created: Callable[[str], None] | None = None,
    ) -> None:
        self._on_input = on_input
        self._max_poll = max_poll_seconds
        self._on_created = on_created

    def claims(self) -> Sequence[ResultClaim[Any]]:
        """The ``resultType: "task"`` shape of ``tools/call``."""
        return (ResultClaim(result_type="task", model=CreateTaskResult, resolve=self._resolve),)

    async def _resolve(self, created: CreateTaskResult, ctx: ClaimContext) -> CallToolResult:
        if self._on_created is not None:
            self._on_created(created.task_id)
        return await self.follow(ctx.session, created.task_id)

    async def follow(self, session: ClientSession, task_id: str) -> CallToolResult:
        """Poll ``task_id`` (e.g. one persisted before a restart) until it ends; return its result."""
        answered: set[str] = set()
        while True:
            task = await session.send_request(
                GetTaskRequest(params=TaskIdParams(task_id=task_id)), TaskResult
            )
            if task.status == "completed" and task.result is not None:
                return CallToolResult.model_validate(task.result)
            if task.status in ("cancelled", "failed"):
                text = f"task {task.task_id} ended {task.status}"
                return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
            if task.status == "input_required" and self._on_input is not None:
                responses: dict[str, Any] = {}
                for key, request in (task.input_requests or {}).items():
                    if key in answered:
                        continue
                    answered.add(key)
                    content = await self._on_input(key, dict(request.get("params") or {}))
                    responses[key] = (
                        {"action": "accept", "content": content}
                        if content is not None
                        else {"action": "decline"}
                    )
                if responses:
                    await session.send_request(
                        UpdateTaskRequest(
                            params=UpdateTaskParams(task_id=task.task_id, input_responses=responses)
                        ),
                        Ack,
                    )
                    continue
            await asyncio.sleep(min((task.poll_interval_ms or 1000) / 1000, self._max_poll))


async def cancel_task(session: ClientSession, task_id: str) -> None:
    """Send ``tasks/cancel`` for ``task_id`` over a client session."""
    await session.send_request(CancelTaskRequest(params=TaskIdParams(task_id=task_id)), Ack)
