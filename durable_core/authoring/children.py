"""Child workflows: start a workflow from a workflow and await its result durably.

``handle = await start_child(ctx, child_workflow, ...)`` creates the child once (journaled; its id is
derived from the parent's id and position unless given). ``await handle.result()`` waits without
holding a worker; the child's end is delivered to the parent's mailbox in the transaction that finishes
the child. With ``cancel_with_parent=True`` (the default) a child that has not finished is cancelled
(its compensations run) when the parent fails or is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from durable_core.authoring.context import WorkflowContext
from durable_core.authoring.events import workflow_body_context
from durable_core.authoring.runtime import ChildStart, WaitResult, WaitSpec
from durable_core.authoring.workflow import Workflow
from durable_core.errors import ChildWorkflowError
from durable_core.types import WaitKey, WaitKind
from durable_core.validation import MAX_CHILD_ID_LENGTH, check_identifier

__all__ = ["ChildHandle", "child_result", "run_child", "start_child"]


@dataclass(frozen=True, slots=True)
class ChildHandle:
    """A child workflow started by this workflow."""

    ctx: WorkflowContext
    workflow: Workflow[Any, Any]
    instance_id: str

    @property
    def wait_key(self) -> WaitKey:
        """What the parent waits on for this child's end."""
        return WaitKey(WaitKind.CHILD, self.instance_id)

    async def result(self) -> Any:
        """Wait durably for the child to finish and return its typed result.

        Raises:
            ChildWorkflowError: the child failed or was cancelled.
        """
        runtime = self.ctx._runtime
        spec = WaitSpec(name=f"child:{self.workflow.name}", keys=(self.wait_key,))
        return child_result(self, await runtime.wait_for(runtime.next_position(), spec))


def child_result(handle: ChildHandle, result: WaitResult) -> Any:
    """The child's typed result from its recorded end, or the error that explains why there is none."""
    meta = result.metadata
    status = str(meta.get("status", ""))
    if status == "completed":
        return handle.workflow.decode_result(result.data)
    error = meta.get("error")
    type_name = str(error.get("type_name", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    detail = f": {type_name}: {message}" if type_name else ""
    raise ChildWorkflowError(
        f"child workflow {handle.workflow.name} ({handle.instance_id}) ended {status}{detail}",
        handle.instance_id,
        status,
        type_name,
    )


async def start_child(
    ctx: WorkflowContext,
    workflow: Workflow[Any, Any],
    *args: Any,
    instance_id: str | None = None,
    cancel_with_parent: bool = True,
    **kwargs: Any,
) -> ChildHandle:
    """Start ``workflow`` as a child of this instance (exactly once) and return its handle.

    Args:
        ctx: the parent's context.
        workflow: the child workflow definition.
        *args: positional arguments of the child.
        instance_id: the child's id (default: ``"<parent id>.<position>"``).
        cancel_with_parent: cancel the child when the parent fails or is cancelled before it ends.
        **kwargs: keyword arguments of the child (validated like ``start()``).

    Raises:
        InputValidationError: invalid arguments (nothing is started).
        InstanceConflictError: ``instance_id`` exists with another workflow, input or parent.
    """
    ctx = workflow_body_context(ctx, "start_child")
    if not isinstance(workflow, Workflow):
        raise TypeError(f"start_child() takes a @workflow, got {type(workflow).__name__}")
    arguments = workflow.encode_arguments(args, kwargs)
    runtime = ctx._runtime
    position = runtime.next_position()
    child_id = instance_id or f"{ctx.instance_id}.{position}"
    # the parent waits on the key "child:<id>": the id must leave room for the prefix
    check_identifier("child instance_id", child_id, limit=MAX_CHILD_ID_LENGTH)
    start = ChildStart(workflow.name, arguments, child_id, cancel_with_parent)
    created = await runtime.start_child(position, start)
    return ChildHandle(ctx, workflow, created)


async def run_child(ctx: WorkflowContext, workflow: Workflow[Any, Any], *args: Any, **kwargs: Any) -> Any:
    """Start a child and wait for its result (``start_child`` + ``result()``)."""
    handle = await start_child(ctx, workflow, *args, **kwargs)
    return await handle.result()
