"""Engine observers: a small typed port the engine reports counts and timings to (metrics, dashboards).

Unlike :mod:`durable_core.hooks` (async callbacks with instance ids and payloads, for tracing and
logging), an observer gets only low-cardinality facts -- workflow, activity and status names, durations,
attempt counts -- through synchronous calls on the engine's hot path, so implementations must be cheap
and must not block. ``edda_mcp.metrics`` implements it with Prometheus counters and histograms; the
engine itself imports no metrics library.

Attach one with ``app.observers.add(observer)``; subclass :class:`ObserverBase` to implement only some
callbacks. An observer that raises is logged and never affects a workflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from durable_core.types import InstanceStatus, StepKind

__all__ = [
    "DispatcherLoad",
    "EngineObserver",
    "InstanceCount",
    "ObserverBase",
    "Observers",
    "StepObservation",
]

logger = logging.getLogger("durable_core.observers")

_O = TypeVar("_O")


@dataclass(frozen=True, slots=True)
class StepObservation:
    """An activity or compensation that ended (succeeded, or failed for good) in a live run.

    Attributes:
        workflow: the workflow name of the instance.
        activity: the activity (or compensation) name.
        kind: activity or compensation.
        seconds: wall time from the first attempt's start to the end of the last, retry delays included.
        attempts: attempts it took (1 when the first one ended it).
        ok: False when it failed for good (terminal error or retries exhausted).
    """

    workflow: str
    activity: str
    kind: StepKind
    seconds: float
    attempts: int
    ok: bool


@dataclass(frozen=True, slots=True)
class InstanceCount:
    """How many stored instances of ``workflow_name`` are in ``status`` (a row of ``count_instances``)."""

    workflow_name: str
    status: InstanceStatus
    count: int


@dataclass(frozen=True, slots=True)
class DispatcherLoad:
    """Instances this process runs now and how many it may run at once (``max_concurrent_runs``)."""

    running: int
    capacity: int


class EngineObserver(Protocol):
    """What the engine reports; every method is called synchronously and must return quickly."""

    def workflow_started(self, workflow: str) -> None:
        """An instance of ``workflow`` starts its first run."""

    def workflow_finished(self, workflow: str, status: InstanceStatus) -> None:
        """An instance ended COMPLETED, FAILED or CANCELLED (BLOCKED too: it stops until resumed)."""

    def step_finished(self, step: StepObservation) -> None:
        """An activity or compensation ended in a live run (replayed results are not reported)."""

    def woke_up(self, workflow: str, late_seconds: float) -> None:
        """A waiting instance was claimed ``late_seconds`` after its wake-up became due."""

    def lease_taken_over(self, workflow: str) -> None:
        """This worker took over an instance whose previous owner's lease expired unreleased."""

    def outbox_delivery_failed(self, event_type: str, final: bool) -> None:
        """An outbox delivery attempt failed; ``final`` when the row is given up on (FAILED)."""


class ObserverBase(EngineObserver):
    """An observer whose callbacks do nothing until a subclass overrides them."""

    def workflow_started(self, workflow: str) -> None:
        """No-op."""

    def workflow_finished(self, workflow: str, status: InstanceStatus) -> None:
        """No-op."""

    def step_finished(self, step: StepObservation) -> None:
        """No-op."""

    def woke_up(self, workflow: str, late_seconds: float) -> None:
        """No-op."""

    def lease_taken_over(self, workflow: str) -> None:
        """No-op."""

    def outbox_delivery_failed(self, event_type: str, final: bool) -> None:
        """No-op."""


class Observers(EngineObserver):
    """The observers of one app; the engine calls this fan-out, which isolates it from their errors.

    With no observer attached every call is a loop over an empty tuple (the engine's default cost).
    """

    def __init__(self) -> None:
        self._all: tuple[EngineObserver, ...] = ()  # replaced, never mutated: safe to iterate while added

    def add(self, observer: EngineObserver) -> None:
        """Attach ``observer`` (once; adding it again does nothing)."""
        if observer not in self._all:
            self._all = (*self._all, observer)

    def remove(self, observer: EngineObserver) -> None:
        """Detach ``observer`` (no error if it was not attached)."""
        self._all = tuple(o for o in self._all if o is not observer)

    def find(self, kind: type[_O]) -> _O | None:
        """The first attached observer that is an instance of ``kind``, or None."""
        return next((o for o in self._all if isinstance(o, kind)), None)

    def __len__(self) -> int:
        return len(self._all)

    def workflow_started(self, workflow: str) -> None:
        """Report to every observer."""
        for o in self._all:
            _call(o.workflow_started, workflow)

    def workflow_finished(self, workflow: str, status: InstanceStatus) -> None:
        """Report to every observer."""
        for o in self._all:
            _call(o.workflow_finished, workflow, status)

    def step_finished(self, step: StepObservation) -> None:
        """Report to every observer."""
        for o in self._all:
            _call(o.step_finished, step)

    def woke_up(self, workflow: str, late_seconds: float) -> None:
        """Report to every observer."""
        for o in self._all:
            _call(o.woke_up, workflow, late_seconds)

    def lease_taken_over(self, workflow: str) -> None:
        """Report to every observer."""
        for o in self._all:
            _call(o.lease_taken_over, workflow)

    def outbox_delivery_failed(self, event_type: str, final: bool) -> None:
        """Report to every observer."""
        for o in self._all:
            _call(o.outbox_delivery_failed, event_type, final)


def _call(method: Callable[..., object], *args: object) -> None:
    try:
        method(*args)
    except Exception:
        logger.exception("engine observer %r raised; ignoring", method)
