"""Operator commands on stored instances: list, show, cancel, resume, resolve, migrate (replay: cli_evolution)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from durable_core import EddaApp, InstanceStatus, OutcomeAnswer
from edda_mcp.queries import history_json


def client_app(db_url: str) -> EddaApp:
    """An engine that queries and controls instances but never runs them."""
    return EddaApp(db_url, service_name="edda-mcp-cli", run_workers=False)


async def list_instances(
    db_url: str, out: TextIO, *, status: str | None, workflow: str | None, limit: int
) -> None:
    """One line per instance, newest first."""
    async with client_app(db_url) as app:
        records = await app.list_instances(
            status=InstanceStatus(status) if status else None, workflow_name=workflow, limit=limit
        )
    if not records:
        out.write("no instances\n")
    for r in records:
        out.write(
            f"{r.instance_id}  {r.workflow_name:<24} {r.status.value:<12} {r.created_at.isoformat()}"
            f"  {r.app_version or '-'}\n"
        )


async def show_instance(db_url: str, instance_id: str, out: TextIO) -> None:
    """An instance and its history as JSON."""
    async with client_app(db_url) as app:
        record = await app.get_instance(instance_id)
        progress = await app.get_progress(instance_id)
        history = await app.get_history(instance_id)
    data: dict[str, Any] = {
        "instance_id": record.instance_id,
        "workflow": record.workflow_name,
        "status": record.status.value,
        "steps_completed": progress.steps_completed,
        "current_step": progress.current_step,
        "last_completed_step": progress.last_completed_step,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "error": None if record.error is None else record.error.message,
        "reason": record.blocked_reason,
        "app_version": record.app_version,
        "last_run_version": record.last_run_version,
        "history": history_json(history),
    }
    out.write(json.dumps(data, indent=2) + "\n")


async def cancel_instance(db_url: str, instance_id: str, reason: str, out: TextIO) -> None:
    """Request cancellation (the server running it runs the compensations)."""
    async with client_app(db_url) as app:
        outcome = await app.cancel(instance_id, reason=reason, cancelled_by="edda-mcp cli")
    out.write(f"{instance_id}: {outcome.value}\n")


async def resume_instance(db_url: str, instance_id: str, out: TextIO) -> bool:
    """Resume a BLOCKED instance; False if it was not blocked."""
    async with client_app(db_url) as app:
        await app.get_instance(instance_id)
        resumed = await app.resume(instance_id)
    out.write(f"{instance_id}: {'resumed' if resumed else 'not blocked, nothing to resume'}\n")
    return resumed


async def resolve_instance(db_url: str, instance_id: str, answer: OutcomeAnswer, out: TextIO) -> None:
    """Answer an ``outcome_unknown`` instance (it then runs again in the server that claims it)."""
    async with client_app(db_url) as app:
        await app.resolve_unknown(
            instance_id, happened=answer.happened, result=answer.result, answered_by=answer.answered_by
        )
    said = "happened" if answer.happened else "did not happen (it runs again)"
    out.write(f"{instance_id}: resolved, the interrupted step {said}\n")


async def migrate(db_url: str, out: TextIO) -> None:
    """Create or upgrade the schema."""
    async with EddaApp(db_url, service_name="edda-mcp-cli", run_workers=False, auto_migrate=True):
        pass
    out.write(f"schema is up to date at {db_url}\n")
