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
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from workflows import Context, Workflow
from workflows.context.serializers import JsonSerializer
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from durable_core import (
    Activity,
    ConfigurationError,
    ContextArgumentError,
    EddaError,
    RetryPolicy,
    WorkflowContext,
    wait_event,
)
from durable_llamaindex import _delta, _memory
from durable_llamaindex._records import (
    Checkpoint,
    CheckpointKind,
    decode_event,
    decode_value,
    encode_event,
    encode_value,
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

    snapshot: dict[str, Any] | None = None  # the latest snapshot, with the recorded memory under _MEMORY
    responses: list[HumanResponseEvent] = field(default_factory=list)
    responses_applied: int = 0

    def take(self, record: Checkpoint) -> None:
        """Follow one recorded STEP checkpoint: its whole snapshot, or its patch to the previous one."""
        if record.snapshot is not None:
            self.snapshot = record.snapshot
        else:
            self.snapshot = _delta.apply(self.snapshot, record.snapshot_patch)
        self.responses_applied = record.responses_applied

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
        response_event: ``HumanResponseEvent`` subclass the response data is validated into; or, for a
            workflow that asks several kinds of questions, a mapping from ``InputRequiredEvent``
            subclasses to the ``HumanResponseEvent`` subclass that answers each (a request of an unmapped
            class is answered by a plain ``HumanResponseEvent``).

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
        response_event: type[HumanResponseEvent]
        | Mapping[type[InputRequiredEvent], type[HumanResponseEvent]] = HumanResponseEvent,
    ) -> None:
        answers = _check_options(factory, name, response_event)
        self.name = name
        self.response_event_type = response_event_type
        self.response_event = response_event if isinstance(response_event, type) else HumanResponseEvent
        self._answers = answers
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
        /,
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
            ContextArgumentError: not called from a workflow body with its WorkflowContext, or given a
                LlamaIndex ``Context`` (``run(ctx=...)``): the durable run makes and checkpoints its own.
        """
        _check_workflow_context(ctx, start_kwargs)
        progress = _Progress()
        seq = Counter[str]()
        while ctx.is_replaying:
            record = await self._checkpoint(ctx, seq, None)
            if record.kind is CheckpointKind.DONE:
                return _result_of(record)
            progress.take(record)
            for request in _input_requests(decode_event(item) for item in record.published):
                progress.responses.append(await self._wait_response(ctx, self.answer_type(request)))
        return await self._run_live(ctx, seq, progress, start_event, start_kwargs, on_event)

    async def _checkpoint(
        self, ctx: WorkflowContext, seq: Counter[str], record: Checkpoint | None
    ) -> Checkpoint:
        seq["n"] += 1
        activity_id = f"{self.activity_name}#{seq['n']}"
        return await self._checkpoint_activity(ctx, _Pending(record), activity_id=activity_id)

    def answer_type(self, request: Event) -> type[HumanResponseEvent]:
        """The ``HumanResponseEvent`` subclass that answers ``request`` (an ``InputRequiredEvent``)."""
        for request_type, answer_type in self._answers:
            if isinstance(request, request_type):
                return answer_type
        return self.response_event

    async def _wait_response(
        self, ctx: WorkflowContext, answer: type[HumanResponseEvent]
    ) -> HumanResponseEvent:
        """Wait durably for a valid human response (invalid payloads are logged and skipped).

        A response class with declared fields is passed to ``wait_event`` as ``model=``, so whoever
        answers (e.g. an MCP client) sees its JSON schema.
        """
        model = answer if answer.model_fields else None
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
            if isinstance(data, answer):
                return data
            try:
                return answer.model_validate(data if isinstance(data, dict) else {"response": data})
            except ValidationError as exc:
                logger.warning(
                    "instance %s: ignoring %s event %s that is not a valid %s: %s",
                    ctx.instance_id,
                    self.response_event_type,
                    received.metadata.id,
                    answer.__name__,
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
            snapshot = dict(progress.snapshot)
            resumed = Context.from_dict(flow, snapshot, serializer=_MemoryBlindSerializer())
            await _memory.restore(resumed, snapshot.pop(_MEMORY, None))
            handler = flow.run(ctx=resumed)
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
                step_record = await self._step_record(report, handler.ctx, progress)
                await self._checkpoint(ctx, seq, step_record)
                await _deliver(report.published, on_event)
                for request in _input_requests(report.published):
                    response = await self._wait_response(ctx, self.answer_type(request))
                    handler.ctx.send_event(response)
                in_flight.done.set_result(None)
                in_flight = None
        finally:
            await _stop_run(handler, finished, in_flight, requests)

    async def _step_record(self, report: TickReport, run_ctx: Context, progress: _Progress) -> Checkpoint:
        snapshot = to_json_snapshot(run_ctx.to_dict(serializer=_MemoryBlindSerializer()))
        snapshot[_MEMORY] = await _memory.capture(run_ctx)
        previous, progress.snapshot = progress.snapshot, snapshot
        return Checkpoint(
            kind=CheckpointKind.STEP,
            step=report.step,
            input_event=encode_event(report.input_event) if report.input_event is not None else None,
            output_events=[encode_event(ev) for ev in report.outputs],
            snapshot=snapshot if previous is None else None,
            snapshot_patch=None if previous is None else _delta.diff(previous, snapshot),
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
            stop_result=encode_value(stop.result) if type(stop) is StopEvent else None,
        )
        recorded = await self._checkpoint(ctx, seq, record)
        await _deliver(report.published, on_event)
        return _result_of(recorded)

    def published_events(self, history_results: list[Any]) -> list[Event]:
        """Rebuild the streamed events from recorded checkpoint results (JSON), in order."""
        events: list[Event] = []
        for raw in history_results:
            record = Checkpoint.model_validate(raw)
            events.extend(decode_event(item) for item in record.published)
        return events


def _check_options(
    factory: object, name: object, response_event: object
) -> tuple[tuple[type[InputRequiredEvent], type[HumanResponseEvent]], ...]:
    """Refuse unusable options; return the request-to-answer pairs of a mapping ``response_event``."""
    if isinstance(factory, Workflow) or not callable(factory):
        raise ConfigurationError(
            "DurableLlamaWorkflow needs a factory that returns a new Workflow (e.g. MyFlow or "
            "lambda: MyFlow(timeout=None)), not a workflow instance: every durable run builds its own"
        )
    if not name:
        raise ConfigurationError("DurableLlamaWorkflow needs a stable, non-empty name")
    pairs: list[tuple[Any, Any]] = (
        list(response_event.items())
        if isinstance(response_event, Mapping)
        else [(InputRequiredEvent, response_event)]
    )
    for request, answer in pairs:
        if not (isinstance(request, type) and issubclass(request, InputRequiredEvent)):
            raise ConfigurationError(
                f"response_event keys must be InputRequiredEvent subclasses, got {request!r}"
            )
        if not (isinstance(answer, type) and issubclass(answer, HumanResponseEvent)):
            raise ConfigurationError(f"response_event must be a HumanResponseEvent subclass, got {answer!r}")
    return tuple(pairs) if isinstance(response_event, Mapping) else ()


def _input_requests(events: Iterable[Event]) -> list[InputRequiredEvent]:
    """The requests for human input among streamed events; each is answered by one response, in order."""
    return [event for event in events if isinstance(event, InputRequiredEvent)]


def _check_workflow_context(ctx: object, start_kwargs: dict[str, Any]) -> None:
    if isinstance(ctx, Context) or isinstance(start_kwargs.get("ctx"), Context):
        raise ContextArgumentError(
            "DurableLlamaWorkflow.run() does not take a LlamaIndex Context (run(ctx=...)): the durable run "
            "creates its own Context and checkpoints it after every step, so state you keep in ctx.store "
            "inside your steps survives crashes. Call run(ctx, ...) with the durable WorkflowContext of the "
            "workflow body, and start a new instance for a new conversation."
        )
    if not isinstance(ctx, WorkflowContext) or ctx.in_activity:
        raise ContextArgumentError(
            "DurableLlamaWorkflow.run() must be called from a workflow body with its WorkflowContext"
        )


def _result_of(record: Checkpoint) -> Any:
    """What ``await handler`` returned: a plain StopEvent's result (with its own type), else the event."""
    stop = decode_event(record.result)
    if type(stop) is not StopEvent:
        return stop
    return stop.result if record.stop_result is None else decode_value(record.stop_result)


#: where a snapshot keeps the recorded agent memory (LlamaIndex's own keys never start with "__")
_MEMORY = "__edda_memory__"


class _MemoryBlindSerializer(JsonSerializer):
    """LlamaIndex's JSON serializer that passes an agent memory by reference instead of by value.

    LlamaIndex cannot serialize a memory, so ``to_dict()`` would skip it with a warning at every
    checkpoint, and a context rebuilt from a snapshot would lose the memory put back into it when the run
    starts (the run serializes its state once more then). With this serializer a memory becomes a
    reference into the serializer's own table: one run's context round-trips its live memory, and a
    snapshot holds a reference that means nothing later; the memory itself is recorded beside the
    snapshot (:func:`durable_llamaindex._memory.capture`) and put back by ``restore``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._memories: dict[str, Any] = {}

    def serialize(self, value: Any) -> str:
        if _memory.is_memory(value):
            self._memories[str(id(value))] = value
            return json.dumps({_MEMORY: str(id(value))})
        return super().serialize(value)

    def deserialize(self, value: str) -> Any:
        if value.startswith('{"' + _MEMORY):
            return self._memories.get(json.loads(value)[_MEMORY])
        return super().deserialize(value)


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
