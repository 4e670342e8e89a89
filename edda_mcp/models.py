"""Structured outputs of the generated tools (their ``outputSchema`` comes from these models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorOut(_Out):
    """Why an instance did not complete."""

    type: str = Field(description="exception type as module:QualName")
    message: str


class WaitOut(_Out):
    """What a WAITING instance is waiting for."""

    event_types: list[str] = Field(default_factory=list, description="event types it waits for")
    channels: list[str] = Field(default_factory=list, description="channels it listens on")
    wake_at: datetime | None = Field(None, description="when its timer fires (UTC)")
    input_schemas: dict[str, Any] = Field(
        default_factory=dict, description="JSON schema of the input expected per event type"
    )


class UsageOut(_Out):
    """LLM usage of the instance's model requests, and what its budget still allows."""

    requests: int = Field(description="model requests recorded")
    input_tokens: int
    output_tokens: int
    cost: float = Field(description="priced with the budget's prices (0 without a cost budget)")
    budget: str | None = Field(None, description="the budget's name, if the instance has one")
    tokens_left: int | None = Field(None, description="tokens the budget still allows (null: no limit)")
    cost_left: float | None = Field(None, description="cost the budget still allows (null: no limit)")


class StatusOut(_Out):
    """Output of ``<tool>_status``."""

    instance_id: str
    workflow: str
    status: str = Field(
        description="pending|running|waiting|compensating|completed|failed|cancelled|blocked|outcome_unknown"
        "|paused|queued"
    )
    finished: bool
    steps_completed: int = Field(
        description="steps completed so far (activities, timers, waits, sends, child starts; "
        "the workflow's internal now/uuid/random values are not steps)"
    )
    current_step: str | None = Field(
        description="what it is doing now: the running activity, or what it waits for "
        "(null when finished, between steps, or running in another server process)"
    )
    last_completed_step: str | None = Field(None, description="name of the most recently completed step")
    waiting_for: WaitOut | None = None
    usage: UsageOut | None = Field(None, description="LLM usage (null when it made no model requests)")
    cancel_requested: bool = False
    error: ErrorOut | None = None
    poll_interval_seconds: float = Field(description="suggested seconds before polling again (0 = finished)")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class CancelOut(_Out):
    """Output of ``<tool>_cancel``."""

    instance_id: str
    outcome: str = Field(description="requested|already-requested|already-finished")
    status: str


class ResolveOut(_Out):
    """Output of the opt-in ``resolve_unknown_outcome`` admin tool."""

    instance_id: str
    happened: bool
    status: str = Field(description="the run's status after the answer (it runs again at once)")


def start_model(workflow_name: str, result_type: Any) -> type[BaseModel]:
    """Output model of the start tool: the handle plus the result when it finished in time."""
    return create_model(
        f"{_camel(workflow_name)}Started",
        __base__=_Out,
        instance_id=(str, Field(description="id for the _status, _result and _cancel tools")),
        workflow=(str, ...),
        status=(str, ...),
        finished=(bool, ...),
        result=(
            result_type | None,
            Field(None, description="the result when it finished in time"),
        ),
        error=(ErrorOut | None, None),
        poll_interval_seconds=(float, Field(description="suggested seconds before calling _status")),
    )


def result_model(workflow_name: str, result_type: Any) -> type[BaseModel]:
    """Output model of the result tool: the workflow's typed return value."""
    return create_model(
        f"{_camel(workflow_name)}Result",
        __base__=_Out,
        instance_id=(str, ...),
        status=(str, ...),
        result=(result_type, Field(description="the workflow's return value")),
    )


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_") if part)


class RespondOut(_Out):
    """Output of ``<tool>_respond``."""

    instance_id: str
    event_type: str
    event_id: str
    status: str


class RunResultOut(_Out):
    """Output of the compact style's ``runs_result`` (shared by every durable tool of a server)."""

    instance_id: str
    status: str
    result: Any = Field(description="the workflow's return value (its type depends on the tool)")


class RunSummary(_Out):
    """One run in ``runs_list``."""

    instance_id: str
    tool: str = Field(description="the durable tool that started it")
    status: str = Field(description="pending|running|waiting|compensating|completed|failed|cancelled|blocked")
    finished: bool
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class RunListOut(_Out):
    """Output of ``runs_list``: the caller's runs, newest first."""

    runs: list[RunSummary]
    next_cursor: str | None = Field(
        None, description="pass as cursor for the next (older) page; null when there are no more runs"
    )
