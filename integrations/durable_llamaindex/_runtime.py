"""A LlamaIndex runtime that pauses its control loop at every finished step so the run can be checkpointed.

``CheckpointRuntime`` is LlamaIndex's own asyncio ``BasicRuntime`` with one change: its internal adapter
calls a hook after the control loop has processed a step result (``after_tick`` of a ``TickStepResult``)
and waits for the hook before the loop moves on. The hook takes the snapshot (``Context.to_dict()``) and
records it; while it runs, no new step starts and no other tick is processed, so the snapshot is a
consistent point to resume from. Events the run publishes to its stream are collected for the next
checkpoint, and human responses fed into the run are counted so a resume knows which were applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from workflows.events import Event, HumanResponseEvent, InternalDispatchEvent
from workflows.plugins.basic import AsyncioAdapterQueues, BasicRuntime, InternalAsyncioAdapter
from workflows.runtime.types.plugin import InternalRunAdapter
from workflows.runtime.types.results import StepWorkerResult
from workflows.runtime.types.ticks import TickAddEvent, TickStepResult, WorkflowTick
from workflows.workflow import Workflow


@dataclass(slots=True)
class TickReport:
    """What happened since the previous checkpoint."""

    step: str | None
    published: list[Event] = field(default_factory=list)
    responses_applied: int = 0
    input_event: Event | None = None
    outputs: list[Event] = field(default_factory=list)


def _outputs(tick: TickStepResult) -> list[Event]:
    """The events a finished step produced: sent with ``ctx.send_event`` (in order), then returned."""
    events = [sent.event for sent in tick.sends]
    events.extend(
        item.result for item in tick.result if isinstance(item, StepWorkerResult) and item.result is not None
    )
    return events


CheckpointHook = Callable[[TickReport], Awaitable[None]]


@dataclass(slots=True)
class _RunLog:
    """Per-run bookkeeping shared by the adapter instances of one run."""

    published: list[Event] = field(default_factory=list)
    responses_applied: int = 0


class _CheckpointAdapter(InternalAsyncioAdapter):
    def __init__(self, queues: AsyncioAdapterQueues, log: _RunLog, hook: CheckpointHook) -> None:
        super().__init__(queues)
        self._log = log
        self._hook = hook

    async def write_to_event_stream(self, event: Event) -> None:
        if not isinstance(event, InternalDispatchEvent):  # what handler.stream_events() would yield
            self._log.published.append(event)
        await super().write_to_event_stream(event)

    async def on_tick(self, tick: WorkflowTick) -> None:
        if isinstance(tick, TickAddEvent) and isinstance(tick.event, HumanResponseEvent):
            self._log.responses_applied += 1
        await super().on_tick(tick)

    async def after_tick(self, tick: WorkflowTick) -> None:
        await super().after_tick(tick)
        if isinstance(tick, TickStepResult):
            published, self._log.published = self._log.published, []
            report = TickReport(
                str(tick.step_id), published, self._log.responses_applied, tick.event, _outputs(tick)
            )
            await self._hook(report)


class CheckpointRuntime(BasicRuntime):
    """``BasicRuntime`` whose control loop awaits ``hook`` after each processed step result."""

    def __init__(self, hook: CheckpointHook, responses_applied: int = 0) -> None:
        super().__init__()
        self._hook = hook
        self._log = _RunLog(responses_applied=responses_applied)

    def get_internal_adapter(self, workflow: Workflow) -> InternalRunAdapter:
        """The basic adapter of the current run, extended with the checkpoint hook."""
        base = super().get_internal_adapter(workflow)
        assert isinstance(base, InternalAsyncioAdapter)
        return _CheckpointAdapter(base._queues, self._log, self._hook)

    def final_report(self) -> TickReport:
        """Events published since the last checkpoint (the run has ended)."""
        published, self._log.published = self._log.published, []
        return TickReport(None, published, self._log.responses_applied)


def new_runtime(hook: CheckpointHook, responses_applied: int) -> CheckpointRuntime:
    """A fresh runtime for one durable run (never shared between runs)."""
    return CheckpointRuntime(hook, responses_applied)


__all__ = ["CheckpointHook", "CheckpointRuntime", "TickReport", "new_runtime"]
