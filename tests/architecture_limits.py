"""The limits :mod:`tests.test_architecture` enforces, kept apart so that test stays small.

Both lists here may only shrink or be changed on purpose:

- ``FUNCTION_SIZE_EXCEPTIONS``: functions longer than ``MAX_FUNCTION_LINES`` today, each with its current
  length (it may not grow) and why it is long. An entry whose function got short enough must be removed.
- ``PUBLIC_ALL``: the ``__all__`` of every public package. Adding or removing a public name is an API
  change: update the pin in the same commit, deliberately.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

#: hard cap of a package module (DESIGN.md section 1 aims at ~500)
MAX_MODULE_LINES: Final = 600
#: cap of a function or method, counted from its ``def`` line to its last line (signature and docstring too)
MAX_FUNCTION_LINES: Final = 60

#: "path::Qualified.name" -> (lines today, reason)
FUNCTION_SIZE_EXCEPTIONS: Final[Mapping[str, tuple[int, str]]] = {
    "durable_core/engine/app.py::EddaApp.__init__": (
        88,
        "27 keyword options kept for users' code next to the grouped ones; the body wires the services",
    ),
    "durable_core/authoring/events.py::send_event": (
        74,
        "the public keyword signature of the seed's send_event (nine CloudEvent fields) and its docstring",
    ),
    "durable_core/engine/executor.py::StepExecutor._run_with_retries": (
        71,
        "one retry loop: attempts, timeouts, hooks and durable attempt counts read best in one place",
    ),
    "durable_core/engine/waiters.py::ResultWaiters.wait_finished": (
        63,
        "waits on a local future, change notifications and a bounded poll at once",
    ),
}

#: package -> its ``__all__``, exactly
PUBLIC_ALL: Final[Mapping[str, frozenset[str]]] = {
    "durable_core": frozenset(
        {
            "Activity",
            "ActivityTimeoutError",
            "ApiMisuseError",
            "AppNotBoundError",
            "AppOptions",
            "CancelOutcome",
            "Catalog",
            "ChannelMessage",
            "ChildHandle",
            "ChildWorkflowError",
            "Clock",
            "CloudEventsASGI",
            "Compensation",
            "ConfigurationError",
            "ContextArgumentError",
            "DriverNotInstalledError",
            "EddaApp",
            "EddaError",
            "ErrorInfo",
            "EventMetadata",
            "EventSink",
            "EventTimeoutError",
            "FakeClock",
            "FirstResult",
            "HistoryEntry",
            "HooksBase",
            "IngressOptions",
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
            "OutboxEvent",
            "OutboxMode",
            "OutboxOptions",
            "OutboxRecord",
            "OutboxRelayer",
            "OutboxStatus",
            "PayloadCodec",
            "ReceivedEvent",
            "ReceivedMessage",
            "RecordedError",
            "ReplayReport",
            "RequestInfo",
            "ResultTimeoutError",
            "RetentionPolicy",
            "RetryExhaustedError",
            "RetryInfo",
            "RetryPolicy",
            "SqliteSynchronous",
            "StepKind",
            "StepOutcome",
            "StorageBusyError",
            "StorageRefusedError",
            "StorageUnavailableError",
            "SubscriptionMode",
            "SystemClock",
            "TerminalError",
            "UnawaitedActivityError",
            "WaitInfo",
            "Waitable",
            "WorkerOptions",
            "Workflow",
            "DidNotHappen",
            "Happened",
            "NoUnknownOutcomeError",
            "OutcomeAnswer",
            "ReconcileDecision",
            "Unknown",
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
            "create_wsgi_app",
            "on_child",
            "on_event",
            "on_failure",
            "on_message",
            "on_timer",
            "publish",
            "receive",
            "register_compensation",
            "run_child",
            "send_event",
            "send_event_transactional",
            "send_to",
            "sleep",
            "sleep_until",
            "start_child",
            "subscribe",
            "unsubscribe",
            "wait_all",
            "wait_event",
            "wait_first",
            "workflow",
            "RunControlError",
            "WorkflowTerminatedError",
            "ControlAction",
            "ControlEntry",
            "ControlOutcome",
        }
    ),
    "edda_mcp": frozenset(
        {
            "ERROR_META_KEY",
            "AccessDeniedError",
            "CancelOut",
            "DurableTool",
            "DurableToolSpec",
            "EddaMCPError",
            "EddaMCPServer",
            "ErrorCode",
            "ErrorOut",
            "ServerLoadError",
            "StatusOut",
            "ToolDefinitionError",
            "ToolStyle",
            "WaitOut",
            "error_details",
            "history_uri",
            "instance_uri",
        }
    ),
    "durable_mirascope": frozenset(
        {
            "AgentResult",
            "AgentStepLimitError",
            "CallSpec",
            "DurableCall",
            "DurableResponse",
            "INSTALL_HINT",
            "MIRASCOPE_VERSION",
            "MirascopeNotInstalledError",
            "ModelRequestError",
            "ModelRequestRejectedError",
            "RecordedResponseError",
            "TokenUsage",
            "UnsupportedToolError",
            "durable",
            "durable_call",
            "execute_tools",
            "instance_usage",
            "model_request",
            "run_agent",
            "usage_of",
        }
    ),
    "durable_llamaindex": frozenset(
        {
            "Checkpoint",
            "CheckpointKind",
            "DEFAULT_RESPONSE_EVENT_TYPE",
            "DurableLlamaWorkflow",
            "EventCallback",
            "INSTALL_HINT",
            "LLAMAINDEX_WORKFLOWS_VERSION",
            "LlamaIndexNotInstalledError",
            "RecordedRunError",
            "decode_event",
            "encode_event",
        }
    ),
    "durable_pydantic_graph": frozenset(
        {
            "DurableGraph",
            "INSTALL_HINT",
            "OutputKind",
            "PYDANTIC_GRAPH_VERSION",
            "PydanticGraphNotInstalledError",
            "RecordedStepError",
            "StepRecord",
            "UnsupportedGraphError",
            "runs_in_workflow",
            "workflow_context",
            "workflow_step",
        }
    ),
}
