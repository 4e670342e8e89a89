"""Wire models of the ``io.modelcontextprotocol/tasks`` extension (2026-07-28 revision)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from mcp.types import Request, RequestParams, Result
from pydantic import BaseModel, ConfigDict, Field

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
TaskStatus = Literal["working", "input_required", "completed", "cancelled", "failed"]


class TaskIdParams(RequestParams):
    """Params of ``tasks/get`` and ``tasks/cancel``."""

    task_id: str = Field(alias="taskId", min_length=1, max_length=300)


class UpdateTaskParams(TaskIdParams):
    """Params of ``tasks/update``: answers keyed like the task's ``inputRequests``."""

    input_responses: dict[str, Any] = Field(alias="inputResponses")


class TaskState(BaseModel):
    """A task as ``tasks/get`` reports it (also the body of ``CreateTaskResult``)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    task_id: str = Field(alias="taskId")
    status: TaskStatus
    status_message: str | None = Field(None, alias="statusMessage")
    created_at: str = Field(alias="createdAt")
    last_updated_at: str = Field(alias="lastUpdatedAt")
    ttl_ms: int | None = Field(None, alias="ttlMs")
    poll_interval_ms: int | None = Field(None, alias="pollIntervalMs")
    input_requests: dict[str, Any] | None = Field(None, alias="inputRequests")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def wire(self, result_type: str) -> dict[str, Any]:
        """The JSON result with ``resultType`` set (``"task"`` on creation, ``"complete"`` for tasks/get)."""
        data = self.model_dump(by_alias=True, mode="json", exclude_none=True)
        data["ttlMs"] = self.ttl_ms  # required, null = unlimited
        data["resultType"] = result_type
        return data


class CreateTaskResult(Result):
    """``tools/call`` answered with a task (client side: what a tasks-aware client receives)."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str


class GetTaskRequest(Request[TaskIdParams, Literal["tasks/get"]]):
    """``tasks/get`` (client side)."""

    method: Literal["tasks/get"] = "tasks/get"
    name_param: ClassVar[str | None] = "taskId"


class UpdateTaskRequest(Request[UpdateTaskParams, Literal["tasks/update"]]):
    """``tasks/update`` (client side)."""

    method: Literal["tasks/update"] = "tasks/update"
    name_param: ClassVar[str | None] = "taskId"


class CancelTaskRequest(Request[TaskIdParams, Literal["tasks/cancel"]]):
    """``tasks/cancel`` (client side)."""

    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param: ClassVar[str | None] = "taskId"


class TaskResult(Result):
    """The result of ``tasks/get`` (client side)."""

    model_config = ConfigDict(extra="allow")
    task_id: str = Field(alias="taskId")
    status: str
    input_requests: dict[str, Any] | None = Field(None, alias="inputRequests")
    result: dict[str, Any] | None = None
    poll_interval_ms: int | None = Field(None, alias="pollIntervalMs")


class Ack(Result):
    """The empty acknowledgement of ``tasks/update`` and ``tasks/cancel`` (client side)."""

    model_config = ConfigDict(extra="allow")
