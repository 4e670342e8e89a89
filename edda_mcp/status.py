"""Reading an instance's state through the engine's public query API and describing it."""

from __future__ import annotations

from datetime import datetime

from durable_core import EddaApp, InstanceRecord, InstanceStatus, InstanceUsage
from edda_mcp.models import ErrorOut, StatusOut, UsageOut, WaitOut

RUNNING_POLL_SECONDS = 2.0
WAITING_POLL_SECONDS = 30.0
MAX_POLL_SECONDS = 300.0


async def read_status(app: EddaApp, record: InstanceRecord) -> StatusOut:
    """Status of ``record`` with progress and what it waits for."""
    # one history read for both (before usage existed, progress alone read it once)
    progress, usage = await app.get_progress_and_usage(record)
    waiting = await read_wait(app, record) if record.status is InstanceStatus.WAITING else None
    return StatusOut(
        instance_id=record.instance_id,
        workflow=record.workflow_name,
        status=record.status.value,
        finished=record.status.is_finished,
        steps_completed=progress.steps_completed,
        current_step=progress.current_step,
        last_completed_step=progress.last_completed_step,
        waiting_for=waiting,
        usage=usage_out(usage),
        cancel_requested=record.cancel_requested,
        error=error_out(record),
        poll_interval_seconds=poll_interval(record, waiting, app.clock.now()),
        created_at=record.created_at,
        updated_at=record.updated_at,
        finished_at=record.finished_at,
    )


def usage_out(found: InstanceUsage) -> UsageOut | None:
    """LLM usage from the recorded model requests (None when there are none and no budget)."""
    used, budget = found.usage, found.budget
    if used.requests == 0 and budget is None:
        return None
    return UsageOut(
        requests=used.requests,
        input_tokens=used.input_tokens,
        output_tokens=used.output_tokens,
        cost=used.cost,
        budget=budget.name if budget is not None else None,
        tokens_left=found.tokens_left,
        cost_left=found.cost_left,
    )


async def read_wait(app: EddaApp, record: InstanceRecord) -> WaitOut:
    """What a WAITING instance waits for (event types with answer schemas, channels, timer)."""
    info = await app.get_wait(record.instance_id)
    if info is None:
        return WaitOut(wake_at=record.wake_at)
    return WaitOut(
        event_types=list(info.event_types),
        channels=list(info.channels),
        wake_at=info.wake_at,
        input_schemas=dict(info.input_schemas),
    )


def error_out(record: InstanceRecord) -> ErrorOut | None:
    """The recorded error of a failed/blocked instance."""
    if record.error is not None:
        return ErrorOut(type=record.error.type_name, message=record.error.message)
    if record.blocked_reason:
        kind = "outcome_unknown" if record.status is InstanceStatus.OUTCOME_UNKNOWN else "blocked"
        return ErrorOut(type=kind, message=record.blocked_reason)
    return None


def poll_interval(record: InstanceRecord, waiting: WaitOut | None, now: datetime) -> float:
    """Seconds a client should wait before polling again (0 when the instance is finished)."""
    if record.status.is_finished:
        return 0.0
    if record.status in (InstanceStatus.BLOCKED, InstanceStatus.OUTCOME_UNKNOWN, InstanceStatus.PAUSED):
        return MAX_POLL_SECONDS  # only a person can move it on
    if waiting is None:
        return RUNNING_POLL_SECONDS
    if waiting.wake_at is not None and not waiting.event_types and not waiting.channels:
        due = (waiting.wake_at - now).total_seconds()
        return round(min(max(due, RUNNING_POLL_SECONDS), MAX_POLL_SECONDS), 1)
    return WAITING_POLL_SECONDS


def describe(status: StatusOut) -> str:
    """One human-readable line for a status."""
    parts = [f"Instance {status.instance_id} ({status.workflow}) is {status.status}"]
    parts.append(f"{status.steps_completed} step(s) completed")
    if status.last_completed_step:
        parts.append(f"last completed: {status.last_completed_step}")
    if status.current_step and status.waiting_for is None:
        queued = status.status == InstanceStatus.QUEUED.value  # the step says what it waits for
        parts.append(status.current_step if queued else f"now running: {status.current_step}")
    wait = status.waiting_for
    if wait is not None:
        if wait.event_types:
            parts.append(f"waiting for event(s) {', '.join(wait.event_types)}")
        if wait.channels:
            parts.append(f"waiting on channel(s) {', '.join(wait.channels)}")
        if wait.wake_at is not None:
            parts.append(f"timer due at {wait.wake_at.isoformat()}")
    if status.error is not None:
        parts.append(f"error: {status.error.message}")
    if not status.finished:
        parts.append(f"poll again in about {status.poll_interval_seconds:g}s")
    return "; ".join(parts) + "."
