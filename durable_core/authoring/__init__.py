"""The authoring API: decorators and the context that user code sees. No storage, no SQLAlchemy."""

from durable_core.authoring.activity import Activity, activity
from durable_core.authoring.catalog import DEFAULT_CATALOG, Catalog
from durable_core.authoring.context import WorkflowContext, current_context
from durable_core.authoring.outbox import send_event_transactional
from durable_core.authoring.runtime import ActivityScope, WorkflowRuntime
from durable_core.authoring.saga import (
    Compensation,
    CompensationCall,
    compensation,
    on_failure,
    register_compensation,
)
from durable_core.authoring.waiting import sleep, sleep_until
from durable_core.authoring.workflow import BoundWorkflow, Workflow, WorkflowStarter, workflow

__all__ = [
    "DEFAULT_CATALOG",
    "Activity",
    "ActivityScope",
    "BoundWorkflow",
    "Catalog",
    "Compensation",
    "CompensationCall",
    "Workflow",
    "WorkflowContext",
    "WorkflowRuntime",
    "WorkflowStarter",
    "activity",
    "compensation",
    "current_context",
    "on_failure",
    "register_compensation",
    "send_event_transactional",
    "sleep",
    "sleep_until",
    "workflow",
]
