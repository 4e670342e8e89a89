"""``DurableLlamaWorkflow``: run a LlamaIndex ``Workflow`` inside a durable workflow.

Every finished step is a checkpoint: an activity named ``<name>.step`` (ids ``<name>.step#<n>``) whose
recorded result holds the step's name, the events the run streamed, and ``Context.to_dict()`` taken
right after the step's result was processed (LlamaIndex's own resumable snapshot, including
``ctx.store``). The end of the run is a last checkpoint holding the ``StopEvent``.

On replay the recorded checkpoints are read back without running anything; the run then resumes from
the last snapshot with LlamaIndex's ``Context.from_dict``, so completed steps never run again. An
``InputRequiredEvent`` makes the workflow wait durably (``wait_event``) for a human response sent
from outside (``app.send_event(response_event_type, ..., instance_id=...)``); the instance holds no
worker while it waits, and the response is fed to the run as a ``HumanResponseEvent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from workflows import Context, Workflow
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from durable_core import Activity, ConfigurationError, EddaError, RetryPolicy, WorkflowContext, wait_event
from durable_llamaindex._records import (
    Checkpoint,
    CheckpointKind,
    decode_event,
    encode_event,
    to_json_snapshot,
)
from durable_llamaindex._runtime import CheckpointRuntime, TickReport, new_runtime

__all__ = ["DEFAULT_RESPONSE_EVENT_TYPE", "DurableLlamaWorkflow", "EventCallback"]

logger = logging.getLogger("durable_llamaindex")

DEFAULT_RESPONSE_EVENT_TYPE = "llamaindex.human_response"
EventCallback = Callable[[Event], Awaitable[None] | None]


class _Pending:
    """The checkpoint a live run hands to the recording activity (never recorded as an argument)."""

    __slots__ = ("record",)

    def __init__(self, record: Checkpoint | None) -> None:
        self.record = record


async def _record_checkpoint(ctx: WorkflowContext, pending: _Pending) -> Checkpoint:
    """Activity body: the checkpoint the live run produced becomes the recorded result."""
    if pending.record is None:  # pragma: no cover - replay never calls the body
        raise RuntimeError("a checkpoint was requested without data outside replay")
    return pending.record


@dataclass(slots=True)
class _Progress:
    """What the replayed checkpoints say about the run so far."""

    snapshot: dict[str, Any] | None = None
    responses: list[HumanResponseEvent] = field(default_factory=list)
    responses_applied: int = 0

    def pending_responses(self) -> list[HumanResponseEvent]:
        return self.responses[self.responses_applied :]


@dataclass(slots=True)
class _Request:
    report: TickReport
    done: asyncio.Future[None]


class DurableLlamaWorkflow:
    """A LlamaIndex workflow whose finished steps are durable checkpoints.

    Example::

        research = DurableLlamaWorkflow(lambda: ResearchFlow(timeout=None), name="research")

        @workflow
        async def run_research(ctx: WorkflowContext, topic: str) -> str:
            return await research.run(ctx, topic=topic)

    Args:
        factory: returns a new ``Workflow`` instance (e.g. the class itself or a lambda). Each durable
            run builds its own instance bound to a checkpointing runtime.
        name: stable name used for the checkpoint activities; keep it stable across deploys.
        response_event_type: event type of human responses (``app.send_event(type, ..., instance_id=)``).
        response_event: ``HumanResponseEvent`` subclass the response data is validated into.

    Raises:
        ConfigurationError: ``factory`` is not callable, is already a ``Workflow`` instance, or the name
            is empty.
    """

    def __init__(
        self,
        factory: Callable[[], Workflow],
        *,
        name: str,
        response_event_type: str = DEFAULT_RESPONSE_EVENT_TYPE,
        response_event: type[HumanResponseEvent] = HumanResponseEvent,
    ) -> None:
        _check_options(factory, name, response_event)
        self.name = name
        self.response_event_type = response_event_type
        self.response_event = response_event
        self._factory = factory
        self._checkpoint_activity: Activity[Any, Checkpoint] = Activity(
            _record_checkpoint, name=f"{name}.step", retry_policy=RetryPolicy(max_attempts=1)
        )

    @property
    def activity_name(self) -> str:
        """The name checkpoints are recorded under."""
        return self._checkpoint_activity.name

    async def run(
        self,
        ctx: WorkflowContext,
        start_event: StartEvent | None = None,
        *,
        on_event: EventCallback | None = None,
        **start_kwargs: Any,
    ) -> Any:
        """Run (or resume) the LlamaIndex workflow durably and return what ``await handler`` would.

        Args:
            ctx: the durable workflow's context (call from a workflow body).
            start_event: the ``StartEvent``; or give its fields as keyword arguments.
            on_event: called with each event the run streams (``ctx.write_event_to_stream``, returned
                ``InputRequiredEvent``s, the final ``StopEvent``) when it is first recorded; not called
                again on replay.
            **start_kwargs: fields of the start event when ``start_event`` is not given.

        Returns:
            ``StopEvent.result`` for a plain ``StopEvent``, else the ``StopEvent`` subclass instance.

        Raises:
            TypeError: not called from a workflow body with its WorkflowContext.
        """
        _check_workflow_context(ctx)
        progress = _Progress()
        seq = Counter[str]()
        while ctx.is_replaying:
            record = await self._checkpoint(ctx, seq, None)
            if record.kind is CheckpointKind.DONE:
                return _result_of(decode_event(record.result))
            progress.snapshot = record.snapshot
            progress.responses_applied = record.responses_applied
            for _ in range(record.input_requests):
                progress.responses.append(await self._wait_response(ctx))
        return await self._run_live(ctx, seq, progress, start_event, start_kwargs, on_event)

    async def _checkpoint(
        self, ctx: WorkflowContext, seq: Counter[str], record: Checkpoint | None
    ) -> Checkpoint:
        seq["n"] += 1
        activity_id = f"{self.activity_name}#{seq['n']}"
        return await self._checkpoint_activity(ctx, _Pending(record), activity_id=activity_id)

    async def _wait_response(self, ctx: WorkflowContext) -> HumanResponseEvent:
        """Wait durably for a valid human response (invalid payloads are logged and skipped).

        A response class with declared fields is passed to ``wait_event`` as ``model=``, so whoever
        answers (e.g. an MCP client) sees its JSON schema.
        """
        model = self.response_event if self.response_event.model_fields else None
        while True:
            try:
                received = await wait_event(ctx, self.response_event_type, model=model)
            except EddaError as exc:
                # wait_event raises a plain EddaError when the data does not fit the model; subclasses
                # (NonDeterminismError, EventTimeoutError, ...) are not ours to skip.
                if type(exc) is not EddaError:
                    raise
                logger.warning(
                    "instance %s: ignoring an invalid %s: %s", ctx.instance_id, self.response_event_type, exc
                )
                continue
            data = received.data
            if isinstance(data, HumanResponseEvent):
                return data
            try:
                return self.response_event.model_validate(
                    data if isinstance(data, dict) else {"response": data}
                )
            except ValidationError as exc:
                logger.warning(
                    "instance %s: ignoring %s event %s that is not a valid %s: %s",
                    ctx.instance_id,
                    self.response_event_type,
                    received.metadata.id,
                    self.response_event.__name__,
                    exc,
                )

    async def _run_live(
        self,
        ctx: WorkflowContext,
        seq: Counter[str],
        progress: _Progress,
        start_event: StartEvent | None,
        start_kwargs: dict[str, Any],
        on_event: EventCallback | None,
    ) -> Any:
        requests: asyncio.Queue[_Request | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def hook(report: TickReport) -> None:
            done = loop.create_future()
            requests.put_nowait(_Request(report, done))
            await done

        runtime = new_runtime(hook, progress.responses_applied)
        with runtime.registering():
            flow = self._factory()
        if not isinstance(flow, Workflow):
            raise ConfigurationError(
                f"the factory of {self.name!r} returned {type(flow).__name__}, not a Workflow"
            )
        if progress.snapshot is not None:
            handler = flow.run(ctx=Context.from_dict(flow, progress.snapshot))
        else:
            handler = flow.run(start_event=start_event, **start_kwargs)
        for response in progress.pending_responses():
            handler.ctx.send_event(response)
        finished = asyncio.ensure_future(handler.stop_event_result())
        finished.add_done_callback(lambda _: requests.put_nowait(None))
        in_flight: _Request | None = None
        try:
            while True:
                in_flight = await requests.get()
                if in_flight is None:
                    return await self._finish(ctx, seq, runtime, finished.result(), on_event)
                report = in_flight.report
                record = await self._checkpoint(ctx, seq, self._step_record(report, handler.ctx))
                await _deliver(report.published, on_event)
                for _ in range(record.input_requests):
                    response = await self._wait_response(ctx)
                    handler.ctx.send_event(response)
                in_flight.done.set_result(None)
                in_flight = None
        finally:
            await _stop_run(handler, finished, in_flight, requests)

    def _step_record(self, report: TickReport, run_ctx: Context) -> Checkpoint:
        return Checkpoint(
            kind=CheckpointKind.STEP,
            step=report.step,
            input_event=encode_event(report.input_event) if report.input_event is not None else None,
            output_events=[encode_event(ev) for ev in report.outputs],
            snapshot=to_json_snapshot(run_ctx.to_dict()),
            published=[encode_event(ev) for ev in report.published],
            input_requests=sum(isinstance(ev, InputRequiredEvent) for ev in report.published),
            responses_applied=report.responses_applied,
        )

    async def _finish(
        self,
        ctx: WorkflowContext,
        seq: Counter[str],
        runtime: CheckpointRuntime,
        stop: StopEvent,
        on_event: EventCallback | None,
    ) -> Any:
        report = runtime.final_report()
        record = Checkpoint(
            kind=CheckpointKind.DONE,
            published=[encode_event(ev) for ev in report.published],
            responses_applied=report.responses_applied,
            result=encode_event(stop),
        )
        recorded = await self._checkpoint(ctx, seq, record)
        await _deliver(report.published, on_event)
        return _result_of(decode_event(recorded.result))

    def published_events(self, history_results: list[Any]) -> list[Event]:
        """Rebuild the streamed events from recorded checkpoint results (JSON), in order."""
        events: list[Event] = []
        for raw in history_results:
            record = Checkpoint.model_validate(raw)
            events.extend(decode_event(item) for item in record.published)
        return events


def _check_options(factory: object, name: object, response_event: object) -> None:
    if isinstance(factory, Workflow) or not callable(factory):
        raise ConfigurationError(
            "DurableLlamaWorkflow needs a factory that returns a new Workflow (e.g. MyFlow or "
            "lambda: MyFlow(timeout=None)), not a workflow instance: every durable run builds its own"
        )
    if not name:
        raise ConfigurationError("DurableLlamaWorkflow needs a stable, non-empty name")
    if not (isinstance(response_event, type) and issubclass(response_event, HumanResponseEvent)):
        raise ConfigurationError(
            f"response_event must be a HumanResponseEvent subclass, got {response_event!r}"
        )


def _check_workflow_context(ctx: object) -> None:
    if not isinstance(ctx, WorkflowContext) or ctx.in_activity:
        raise TypeError(
            "DurableLlamaWorkflow.run() must be called from a workflow body with its WorkflowContext"
        )


def _result_of(stop: Event) -> Any:
    if type(stop) is StopEvent:
        return stop.result
    return stop


async def _deliver(events: list[Event], on_event: EventCallback | None) -> None:
    if on_event is None:
        return
    for event in events:
        outcome = on_event(event)
        if inspect.isawaitable(outcome):
            await outcome


class _RunStopped(Exception):
    """Raised inside the LlamaIndex control loop when the durable run stops (suspends or fails)."""


async def _stop_run(
    handler: Any,
    finished: asyncio.Future[StopEvent],
    in_flight: _Request | None,
    requests: asyncio.Queue[_Request | None],
) -> None:
    """Stop the in-memory LlamaIndex run (it resumes from the last checkpoint next time)."""
    pending = [in_flight] if in_flight is not None else []
    while not requests.empty():
        item = requests.get_nowait()
        if item is not None:
            pending.append(item)
    for request in pending:
        if not request.done.done():
            request.done.set_exception(_RunStopped("durable run stopped"))
    if not finished.done():
        with contextlib.suppress(Exception):
            await handler.cancel_run(timeout=2.0)
    if not finished.done():
        finished.cancel()
    with contextlib.suppress(BaseException):
        await finished
