"""An instance's progress as a person would describe it: steps done, the last one, and what happens now."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from durable_core.engine.at_most_once import AttemptStarted, read_mark
from durable_core.storage.base import Storage
from durable_core.types import HistoryEntry, InstanceProgress, InstanceStatus, WaitInfo


async def read_progress(storage: Storage, instance_id: str, running: Sequence[str]) -> InstanceProgress:
    """Recorded steps plus the current one.

    The current step is ``running`` (the activities this process runs for the instance now), else what
    the instance waits for when it is WAITING, the at-most-once step whose outcome is unknown, or the
    singleton key a QUEUED instance waits for (behind which holder, its place in line).

    Raises:
        InstanceNotFoundError: no such instance.
    """
    progress = await storage.get_progress(instance_id)
    return dataclasses.replace(progress, current_step=await current_step(storage, instance_id, running))


def progress_of(history: Sequence[HistoryEntry]) -> InstanceProgress:
    """Steps completed and the last one, counted from a history already read (as ``get_progress`` counts)."""
    steps = [entry for entry in history if entry.kind.is_step]
    return InstanceProgress(len(steps), steps[-1].name if steps else None)


async def current_step(storage: Storage, instance_id: str, running: Sequence[str]) -> str | None:
    """The activities running in this process, else what the instance waits for, else an unknown step."""
    if running:
        return ", ".join(running)
    wait = await storage.messaging().get_wait(instance_id)
    return describe_wait(wait) if wait is not None else await _unknown_step(storage, instance_id)


async def _unknown_step(storage: Storage, instance_id: str) -> str | None:
    """``charge (outcome unknown)`` for an OUTCOME_UNKNOWN instance, the key's line for a QUEUED one."""
    record = await storage.get_instance(instance_id)
    if record is not None and record.status is InstanceStatus.QUEUED and record.singleton_key is not None:
        return await describe_queued(storage, record.workflow_name, record.singleton_key, instance_id)
    if record is None or record.status is not InstanceStatus.OUTCOME_UNKNOWN:
        return None
    for state in (await storage.load_attempts(instance_id)).values():
        mark = read_mark(state)
        if isinstance(mark, AttemptStarted) and mark.asked:
            return f"{mark.activity} (outcome unknown)"
    return None  # pragma: no cover - an OUTCOME_UNKNOWN instance always holds a started mark


async def describe_queued(storage: Storage, workflow: str, key: str, instance_id: str) -> str:
    """``queued for singleton key 'k' behind <holder> (2nd in line)``."""
    line = storage.flow().singleton_line()
    holder = await line.holder(workflow, key)
    waiting = await line.line(workflow, key)
    place = waiting.index(instance_id) + 1 if instance_id in waiting else len(waiting) + 1
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(place if place < 20 else place % 10, "th")
    return f"queued for singleton key {key!r} behind {holder} ({place}{suffix} in line)"


def describe_wait(wait: WaitInfo) -> str:
    """What a waiting instance waits for, in a few words (``event 'approval' (until 2026-...)``)."""
    parts = [f"event {name!r}" for name in wait.event_types]
    parts += [f"message on {name!r}" for name in wait.channels]
    parts += [f"child {name}" for name in wait.children]
    when = wait.wake_at.isoformat() if wait.wake_at is not None else None
    if not parts:
        return f"timer until {when}" if when else "waiting"
    text = " or ".join(parts)
    return f"{text} (until {when})" if when else text
