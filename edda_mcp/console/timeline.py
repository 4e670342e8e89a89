"""The step timeline of an instance, built from its history and its durable attempt counters.

The history records when each step *ended*; an activity's start is its end minus the recorded total
duration (attempts and retry delays included), any other step starts where the previous one ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from durable_core import AttemptState, HistoryEntry, InstanceRecord, StepKind, StepOutcome

__all__ = ["Step", "timeline"]

_HIDDEN = frozenset({StepKind.NOW, StepKind.UUID, StepKind.RANDOM})


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the timeline.

    Attributes:
        position: history position (None for a step still retrying, which has no entry yet).
        kind: activity, compensation, timer, wait, send or child.
        name: the step's name.
        ok: it returned (False: it raised; None: not finished).
        start / end: when it started and ended (end None while it runs).
        attempts: attempts made (1 without retries).
        errors: the error of each failed attempt (``Type: message``).
        delays: the back-off before each retry, in seconds (the attempts of the process that finished it).
        error: the final error, if it raised.
        child_id: the child instance a ``child`` step started.
        duration: ``end - start`` in seconds, when both are known.
    """

    position: int | None
    kind: str
    name: str
    ok: bool | None
    start: datetime | None
    end: datetime | None
    attempts: int = 1
    errors: tuple[str, ...] = ()
    delays: tuple[float, ...] = ()
    error: str | None = None
    child_id: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, when both are known."""
        if self.start is None or self.end is None:
            return None
        return max(0.0, (self.end - self.start).total_seconds())


def _error_text(error: Any) -> str:
    return f"{error.type_name.rsplit(':', 1)[-1]}: {error.message}"


def _child_id(entry: HistoryEntry) -> str | None:
    value = entry.result.json_value
    if entry.kind is StepKind.CHILD and isinstance(value, dict):
        child = value.get("instance_id")
        return child if isinstance(child, str) else None
    return None


def _step(entry: HistoryEntry, previous_end: datetime) -> Step:
    end = entry.recorded_at
    start = previous_end
    attempts, errors, delays = 1, tuple[str, ...](), tuple[float, ...]()
    if entry.retry is not None:
        attempts = entry.retry.total_attempts
        errors = tuple(_error_text(e) for e in entry.retry.errors)
        delays = tuple(ms / 1000 for ms in entry.retry.delays_ms)
        if end is not None:
            start = end - timedelta(milliseconds=entry.retry.total_duration_ms)
    return Step(
        position=entry.position,
        kind=entry.kind.value,
        name=entry.name,
        ok=entry.outcome is StepOutcome.OK,
        start=start,
        end=end,
        attempts=attempts,
        errors=errors,
        delays=delays,
        error=_error_text(entry.error) if entry.error is not None else None,
        child_id=_child_id(entry),
    )


def timeline(record: InstanceRecord, history: list[HistoryEntry], attempts: list[AttemptState]) -> list[Step]:
    """The steps of ``record`` in order, with the step that is retrying now (if any) at the end."""
    steps: list[Step] = []
    previous_end = record.created_at
    recorded = set()
    for entry in history:
        recorded.add(entry.position)
        if entry.kind in _HIDDEN:
            previous_end = entry.recorded_at or previous_end
            continue
        step = _step(entry, previous_end)
        steps.append(step)
        previous_end = step.end or previous_end
    for state in attempts:
        if state.position in recorded or state.attempts <= 0:
            continue
        last = (_error_text(state.last_error),) if state.last_error is not None else ()
        steps.append(
            Step(
                None, "activity", f"step #{state.position} (retrying)", None, None, None, state.attempts, last
            )
        )
    return steps
