"""Creating child workflow instances from a workflow (idempotent, linked to their parent)."""

from __future__ import annotations

from datetime import timedelta

from durable_core.authoring.runtime import ChildStart
from durable_core.engine.services import EngineServices
from durable_core.errors import InstanceConflictError
from durable_core.serialization import args_hash
from durable_core.types import NewInstance

__all__ = ["create_child_instance"]


async def create_child_instance(services: EngineServices, parent_id: str, child: ChildStart) -> str:
    """Create the child instance if it does not exist yet; return its id.

    A retry after a crash finds the instance created by the earlier attempt and returns it.

    Raises:
        InstanceConflictError: the id exists for another workflow, another input or another parent.
        WorkflowNotFoundError: no workflow is registered under ``child.workflow_name``.
    """
    wf = services.catalog.get(child.workflow_name)
    payload = services.serializer.encode(child.arguments, "child input")  # validates before hashing
    digest = args_hash(child.arguments)
    new = NewInstance(
        instance_id=child.instance_id,
        workflow_name=wf.name,
        input=payload,
        input_hash=digest,
        service_name="",
        now=services.clock.now(),
        deadline_at=None if wf.timeout is None else services.clock.now() + timedelta(seconds=wf.timeout),
        parent_instance_id=parent_id,
        app_version=services.version(),
    )
    if services.flow is not None:  # a child of a queued workflow runs in its queue too
        new = services.flow.place(new, wf.queue, None)
    created = await services.storage.create_instance(new)
    existing = created.instance
    if not created.created and (
        existing.workflow_name != wf.name
        or existing.input_hash != digest
        or existing.parent_instance_id != parent_id
    ):
        raise InstanceConflictError(
            f"cannot start child {child.instance_id!r}: an instance with that id already exists with "
            "another workflow, input or parent"
        )
    return child.instance_id
