"""Edda MCP's durable-execution engine: workflows that survive crashes by deterministic replay.

Public names match the seed (Edda), so Edda code ports with import changes only::

    from durable_core import EddaApp, workflow, activity, WorkflowContext
"""

from durable_core.authoring import (
    Activity,
    Catalog,
    Compensation,
    Workflow,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    register_compensation,
    workflow,
)
from durable_core.clock import Clock, FakeClock, SystemClock
from durable_core.codec import PayloadCodec
from durable_core.engine import EddaApp, WorkflowHandle
from durable_core.errors import (
    ActivityTimeoutError,
    AppNotBoundError,
    ConfigurationError,
    DriverNotInstalledError,
    EddaError,
    InputValidationError,
    InstanceConflictError,
    InstanceNotFoundError,
    InvalidDatabaseURLError,
    LeaseLostError,
    MigrationError,
    NonDeterminismError,
    RecordedError,
    ResultTimeoutError,
    RetryExhaustedError,
    StorageUnavailableError,
    TerminalError,
    WorkflowBlockedError,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowTimeoutError,
)
from durable_core.hooks import WorkflowHooks
from durable_core.replay import ReplayReport
from durable_core.retry import RetryPolicy
from durable_core.types import (
    CancelOutcome,
    ErrorInfo,
    HistoryEntry,
    InstanceProgress,
    InstanceRecord,
    InstanceStatus,
    RetryInfo,
    StepKind,
    StepOutcome,
)

__all__ = [
    "Activity",
    "ActivityTimeoutError",
    "AppNotBoundError",
    "CancelOutcome",
    "Catalog",
    "Clock",
    "Compensation",
    "ConfigurationError",
    "DriverNotInstalledError",
    "EddaApp",
    "EddaError",
    "ErrorInfo",
    "FakeClock",
    "HistoryEntry",
    "InputValidationError",
    "InstanceConflictError",
    "InstanceNotFoundError",
    "InstanceProgress",
    "InstanceRecord",
    "InstanceStatus",
    "InvalidDatabaseURLError",
    "LeaseLostError",
    "MigrationError",
    "NonDeterminismError",
    "PayloadCodec",
    "RecordedError",
    "ReplayReport",
    "ResultTimeoutError",
    "RetryExhaustedError",
    "RetryInfo",
    "RetryPolicy",
    "StepKind",
    "StepOutcome",
    "StorageUnavailableError",
    "SystemClock",
    "TerminalError",
    "Workflow",
    "WorkflowBlockedError",
    "WorkflowCancelledError",
    "WorkflowContext",
    "WorkflowFailedError",
    "WorkflowHandle",
    "WorkflowHooks",
    "WorkflowNotFoundError",
    "WorkflowTimeoutError",
    "activity",
    "compensation",
    "on_failure",
    "register_compensation",
    "workflow",
]
