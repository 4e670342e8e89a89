"""Task state of a workflow instance in the 2025-11-25 experimental tasks form, and task listing.

The task id is the instance id. Status: ``working`` while the run is pending, running, compensating,
blocked or waiting on a timer; ``input_required`` while a ``human_input`` tool waits for typed input;
``completed``; ``failed`` (the tool result has ``isError``, as the 2025-11-25 text prescribes);
``cancelled`` from the moment a cancel is accepted (the run then compensates and ends cancelled).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from durable_core import EddaApp, InstanceRecord, InstanceStatus
from edda_mcp import access, human
from edda_mcp.status import read_status
from edda_mcp.task_models import TaskStatus

if TYPE_CHECKING:
    from edda_mcp.durable_tool import DurableTool

TERMINAL: frozenset[TaskStatus] = frozenset({"completed", "failed", "cancelled"})
LIST_PAGE_SIZE = 50
"""Tasks per ``tasks/list`` page."""
LIST_SCAN_LIMIT = 500
"""Instances read per ``tasks/list`` request at most (other principals' runs are skipped, not counted)."""

_STATUS: Mapping[InstanceStatus, TaskStatus] = {
    InstanceStatus.PENDING: "working",
    InstanceStatus.RUNNING: "working",
    InstanceStatus.WAITING: "working",
    InstanceStatus.COMPENSATING: "working",
    InstanceStatus.BLOCKED: "working",
    InstanceStatus.PAUSED: "working",  # an operator paused it; it continues once unpaused
    InstanceStatus.QUEUED: "working",  # behind a singleton key's holder; it runs once handed the key
    InstanceStatus.COMPLETED: "completed",
    InstanceStatus.FAILED: "failed",
    InstanceStatus.CANCELLED: "cancelled",
}


@dataclass(frozen=True, slots=True)
class Task:
    """A task as the 2025-11-25 form reports it (``Task`` of the schema)."""

    task_id: str
    status: TaskStatus
    status_message: str
    created_at: str
    last_updated_at: str
    poll_interval_ms: int | None

    @property
    def terminal(self) -> bool:
        """Whether the task reached ``completed``, ``failed`` or ``cancelled``."""
        return self.status in TERMINAL

    def wire(self) -> dict[str, Any]:
        """The JSON object (``ttl`` is null: a task lives as long as its instance)."""
        data: dict[str, Any] = {
            "taskId": self.task_id,
            "status": self.status,
            "statusMessage": self.status_message,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
            "ttl": None,
        }
        if self.poll_interval_ms is not None:
            data["pollInterval"] = self.poll_interval_ms
        return data


async def task_of(app: EddaApp, tool: DurableTool, record: InstanceRecord) -> Task:
    """The task state of ``record`` (one of ``tool``'s runs)."""
    status = await read_status(app, record)
    task_status: TaskStatus = _STATUS[record.status]
    if record.cancel_requested and task_status == "working":
        task_status = "cancelled"  # accepted cancels stay cancelled (the run compensates, then ends so)
    message = f"{status.steps_completed} step(s) completed" + (
        f"; last completed: {status.last_completed_step}" if status.last_completed_step else ""
    )
    if record.status is InstanceStatus.BLOCKED:
        message = f"blocked: {record.blocked_reason or 'replay diverged'}; an operator must resume it"
    elif record.status is InstanceStatus.FAILED and record.error is not None:
        message = f"failed: {record.error.message}"
    elif task_status == "working" and tool.spec.human_input and await _needs_input(app, record):
        task_status = "input_required"
        message = f"waiting for input; call tasks/result to answer it (or {tool.respond_tool_name})"
    return Task(
        task_id=record.instance_id,
        status=task_status,
        status_message=message,
        created_at=_iso(record.created_at),
        last_updated_at=_iso(record.updated_at),
        poll_interval_ms=int(status.poll_interval_seconds * 1000) or None,
    )


async def _needs_input(app: EddaApp, record: InstanceRecord) -> bool:
    return any(request.schema for request in await human.pending_inputs(app, record))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- listing ------------------------------------------------------------------------------------------
def encode_cursor(position: tuple[datetime, str]) -> str:
    """An opaque cursor continuing after ``position`` (created_at, instance id; newest-first order)."""
    raw = json.dumps([position[0].isoformat(), position[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The keyset position of ``cursor`` (None for the first page); -32602 when it is not one of ours."""
    if cursor is None:
        return None
    try:
        created, instance_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), str(instance_id)
    except (ValueError, TypeError, binascii.Error):
        raise MCPError(code=INVALID_PARAMS, message="Invalid cursor for tasks/list") from None


async def list_page(
    app: EddaApp, tools: Mapping[str, DurableTool], cursor: str | None
) -> tuple[list[Task], str | None]:
    """One page of the caller's tasks (runs of these tools it may access), newest first.

    Scans at most :data:`LIST_SCAN_LIMIT` instances; when the scan stops early the page may be short
    (even empty) and ``nextCursor`` continues where it stopped.
    """
    by_workflow = {tool.workflow.name: tool for tool in tools.values()}
    principal = access.current_principal()
    before = decode_cursor(cursor)
    tasks: list[Task] = []
    scanned = 0
    while scanned < LIST_SCAN_LIMIT:
        batch = await app.list_instances(limit=LIST_PAGE_SIZE, before=before)
        for record in batch:
            scanned += 1
            before = (record.created_at, record.instance_id)
            tool = by_workflow.get(record.workflow_name)
            if tool is not None and access.may_access(principal, record.instance_id):
                tasks.append(await task_of(app, tool, record))
                if len(tasks) == LIST_PAGE_SIZE:
                    return tasks, encode_cursor(before)
        if len(batch) < LIST_PAGE_SIZE:
            return tasks, None
    return tasks, encode_cursor(before) if before is not None else None
