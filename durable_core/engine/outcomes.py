"""Turning a finished instance record into its typed result or the error that explains it."""

from __future__ import annotations

from typing import Any

from durable_core.authoring.workflow import Workflow
from durable_core.errors import (
    EddaError,
    WorkflowBlockedError,
    WorkflowCancelledError,
    WorkflowFailedError,
)
from durable_core.serialization import Serializer, info_to_exception
from durable_core.types import InstanceRecord, InstanceStatus


def result_or_raise(record: InstanceRecord, wf: Workflow[Any, Any] | None, serializer: Serializer) -> Any:
    """The typed result of a COMPLETED instance; otherwise raise why it has none."""
    status = record.status
    iid = record.instance_id
    if status is InstanceStatus.COMPLETED:
        value = serializer.decode(record.output)
        return wf.decode_result(value) if wf is not None else value
    if status is InstanceStatus.FAILED:
        info = record.error
        message = f"instance {iid} failed: " + (
            f"{info.type_name}: {info.message}" if info else "unknown error"
        )
        error = WorkflowFailedError(message, info.type_name if info else "")
        if info is not None:
            error.__cause__ = info_to_exception(info)
        raise error
    if status is InstanceStatus.CANCELLED:
        reason = f" ({record.cancel_reason})" if record.cancel_reason else ""
        raise WorkflowCancelledError(
            f"instance {iid} was cancelled by {record.cancelled_by or 'unknown'}{reason}"
        )
    if status is InstanceStatus.BLOCKED:
        raise WorkflowBlockedError(f"instance {iid} is blocked: {record.blocked_reason}")
    raise EddaError(f"instance {iid} is not finished ({status.value})")
