"""Operator commands on stored instances: list, show, cancel, resume, resolve, migrate (replay: cli_evolution)."""

from __future__ import annotations

from typing import TextIO

from durable_core import EddaApp, OutcomeAnswer
from edda_mcp.cli_support import open_for_reading


def client_app(db_url: str) -> EddaApp:
    """An engine that queries and controls instances of an existing database but never runs them."""
    return open_for_reading(db_url)


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
