"""Bounded waits for an instance to finish, reporting each newly completed step."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from durable_core import EddaApp, InstanceProgress, InstanceRecord, InstanceStatus
from edda_mcp.feed import ChangeFeed

StepCallback = Callable[[int, str], Awaitable[None]]
"""Called once per newly completed step with (steps completed so far, step name)."""

FALLBACK_POLL_SECONDS = 0.5
"""Re-read the database this often while waiting: the instance may run on another replica."""


async def wait_settled(
    app: EddaApp,
    feed: ChangeFeed,
    instance_id: str,
    seconds: float,
    on_step: StepCallback | None = None,
) -> InstanceRecord:
    """Wait up to ``seconds`` until the instance finishes (or parks on something that outlasts the wait).

    Only this wait is bounded and cancellable: cancelling it never touches the instance.

    Returns:
        The last record read (finished or not).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(seconds, 0.0)
    reported = 0
    with feed.watch(instance_id) as changed:
        while True:
            changed.clear()
            record = await app.get_instance(instance_id)
            if on_step is not None:
                reported = await _report_steps(app, instance_id, reported, on_step)
            remaining = deadline - loop.time()
            if _settled(record, remaining, app) or remaining <= 0:
                return record
            try:
                async with asyncio.timeout(min(remaining, FALLBACK_POLL_SECONDS)):
                    await changed.wait()
            except TimeoutError:
                pass


async def _report_steps(app: EddaApp, instance_id: str, reported: int, on_step: StepCallback) -> int:
    """Report the steps completed since ``reported``, one call each; return the new count."""
    progress: InstanceProgress = await app.get_progress(instance_id)
    if progress.steps_completed <= reported:
        return reported
    if progress.steps_completed == reported + 1:
        await on_step(progress.steps_completed, progress.last_completed_step or "step")
        return progress.steps_completed
    steps = [entry for entry in await app.get_history(instance_id) if entry.kind.is_step]
    for count, entry in enumerate(steps[reported:], start=reported + 1):
        await on_step(count, entry.name)
    return max(reported, len(steps))


def _settled(record: InstanceRecord, remaining: float, app: EddaApp) -> bool:
    """Finished, blocked, or waiting on something that will not happen within the remaining time."""
    if record.status.is_finished or record.status in (InstanceStatus.BLOCKED, InstanceStatus.OUTCOME_UNKNOWN):
        return True  # blocked and outcome_unknown wait for a person
    if record.status is not InstanceStatus.WAITING:
        return False
    if record.wake_at is None:
        return True  # waits for an event or message: that may take a human
    return (record.wake_at - app.clock.now()).total_seconds() > remaining
