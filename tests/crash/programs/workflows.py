"""Workflows run by the crash and scale worker program (and started by the tests by name).

Every activity and compensation appends ``start`` before its work and ``done`` after it to the
side-effect log (see :mod:`tests.crash.support`), so a test can tell a completed side effect from an
interrupted one. ``SETTINGS.hold`` names steps that never finish in this process (the test kills it
while they wait); ``SETTINGS.pause_after`` names steps after whose *recorded* completion the workflow
body stalls (killed between a commit and the next step).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from durable_core import (
    Catalog,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    workflow,
)

CATALOG = Catalog()
NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(slots=True)
class Settings:
    """Per-process behaviour, set by the worker program from its command line."""

    log_path: str = ""
    fsync: bool = True
    hold: frozenset[str] = frozenset()
    pause_after: frozenset[str] = frozenset()
    forever: asyncio.Event = field(default_factory=asyncio.Event)  # never set


SETTINGS = Settings()


def record_effect(event: str, ctx: WorkflowContext, label: str) -> None:
    """Append one line ``<event> <instance> <label> <pid> <attempt>`` (and fsync it)."""
    line = f"{event} {ctx.instance_id} {label} {os.getpid()} {ctx.attempt}\n".encode()
    fd = os.open(SETTINGS.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        if SETTINGS.fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


async def _side_effect(ctx: WorkflowContext, label: str) -> None:
    record_effect("start", ctx, label)
    if label in SETTINGS.hold:
        await SETTINGS.forever.wait()  # the test SIGKILLs the process while it waits here
    record_effect("done", ctx, label)


# -- a plain three-step pipeline -----------------------------------------------------------------
@activity(retry_policy=NO_RETRY)
async def step(ctx: WorkflowContext, label: str, n: int) -> str:
    """One side effect; returns a value derived from its input so results can be checked."""
    await _side_effect(ctx, label)
    return f"{label}:{n}"


@workflow(catalog=CATALOG)
async def pipeline(ctx: WorkflowContext, n: int) -> list[str]:
    """s1 -> s2 -> s3."""
    return [await step(ctx, label, n) for label in ("s1", "s2", "s3")]


# -- a saga whose last step fails, so its compensations run -------------------------------------
@compensation
async def undo(ctx: WorkflowContext, label: str, n: int, result: str) -> str:
    """Compensate ``reserve(label, n)``; logged as ``undo_<label>``."""
    assert result == f"{label}:{n}", result
    await _side_effect(ctx, f"undo_{label}")
    return f"undone {label}:{n}"


@activity(retry_policy=NO_RETRY)
@on_failure(undo)
async def reserve(ctx: WorkflowContext, label: str, n: int) -> str:
    """A compensable side effect."""
    await _side_effect(ctx, label)
    return f"{label}:{n}"


@activity(retry_policy=NO_RETRY)
async def charge(ctx: WorkflowContext, n: int) -> None:
    """Always fails for good (recorded as an error, never retried)."""
    record_effect("start", ctx, "charge")
    raise TerminalError(f"card declined for order {n}")


@workflow(catalog=CATALOG)
async def saga(ctx: WorkflowContext, n: int) -> None:
    """reserve s1, reserve s2, charge (fails) -> undo s2, undo s1."""
    await reserve(ctx, "s1", n)
    await reserve(ctx, "s2", n)
    await charge(ctx, n)


class PauseHooks:
    """Stalls the workflow body after a step in ``SETTINGS.pause_after`` was recorded (live only)."""

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """Called by the engine after the step's history entry was committed."""
        if not cache_hit and isinstance(result, str) and result.split(":")[0] in SETTINGS.pause_after:
            await SETTINGS.forever.wait()
