"""The four tools of a durable tool: start, ``_status``, ``_result`` and ``_cancel``."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import BaseModel

from durable_core import (
    EddaApp,
    EddaError,
    InputValidationError,
    InstanceConflictError,
    InstanceNotFoundError,
    InstanceRecord,
    InstanceStatus,
    Workflow,
    WorkflowBlockedError,
    WorkflowCancelledError,
    WorkflowFailedError,
)
from edda_mcp import access, human, input_rounds
from edda_mcp.errors import ToolDefinitionError
from edda_mcp.feed import ChangeFeed
from edda_mcp.models import CancelOut, RespondOut, StatusOut, result_model, start_model
from edda_mcp.results import ErrorCode, error, ok
from edda_mcp.signatures import return_type, workflow_parameters
from edda_mcp.status import describe, read_status
from edda_mcp.stream_progress import ProgressReporter, forwarding_streams
from edda_mcp.tool_style import RUNS_CANCEL, RUNS_RESPOND, RUNS_RESULT, RUNS_STATUS, ToolStyle
from edda_mcp.waiting import StepCallback, wait_settled

logger = logging.getLogger("edda_mcp")

IDEMPOTENCY_PARAM = "idempotency_key"


@dataclass(frozen=True, slots=True)
class DurableToolSpec:
    """How one workflow is exposed as tools.

    Attributes:
        name: base tool name (the start tool); the others get ``_status``, ``_result``, ``_cancel``.
        description: what the workflow does (the start tool's description starts with it).
        title: optional human-readable title.
        wait_seconds: how long the start tool waits for the result before returning the handle.
        max_wait_seconds: cap of any wait a caller asks the result tool for.
        require_idempotency_key: make the key mandatory (the start tool is then idempotent).
        max_argument_bytes: larger (JSON-encoded) arguments are refused before anything is stored.
        human_input: also add ``<name>_respond`` for answering a run that waits for input.
        style: ``COMPACT`` follows runs with the server's shared ``runs_*`` tools instead of its own.
    """

    name: str
    description: str
    title: str | None
    wait_seconds: float
    max_wait_seconds: float
    require_idempotency_key: bool = False
    max_argument_bytes: int = 256 * 1024
    human_input: bool = False
    style: ToolStyle = ToolStyle.FULL


class DurableTool:
    """A workflow exposed as four MCP tools over one engine."""

    def __init__(
        self,
        workflow: Workflow[Any, Any],
        spec: DurableToolSpec,
        app: Callable[[], EddaApp],
        feed: ChangeFeed,
    ) -> None:
        self.workflow = workflow
        self.spec = spec
        self._app = app
        self._feed = feed
        self._result_type = return_type(workflow)
        self._start_model = start_model(workflow.name, self._result_type)
        self._result_model = result_model(workflow.name, self._result_type)
        self._params = workflow_parameters(workflow)
        if any(p.name == IDEMPOTENCY_PARAM for p in self._params):
            raise_reserved(workflow.name)

    @property
    def tool_names(self) -> tuple[str, str, str, str]:
        """Names of the start, status, result and cancel tools (the shared ones in the compact style)."""
        n = self.spec.name
        if self.spec.style is ToolStyle.COMPACT:
            return n, RUNS_STATUS, RUNS_RESULT, RUNS_CANCEL
        return n, f"{n}_status", f"{n}_result", f"{n}_cancel"

    @property
    def respond_tool_name(self) -> str:
        """Name of the tool that answers a run waiting for human input."""
        if self.spec.style is ToolStyle.COMPACT:
            return RUNS_RESPOND
        return f"{self.spec.name}_respond"

    @property
    def params(self) -> list[inspect.Parameter]:
        """The workflow's inputs as tool parameters."""
        return list(self._params)

    @property
    def start_model(self) -> type[BaseModel]:
        """Output model of the start tool."""
        return self._start_model

    @property
    def result_model(self) -> type[BaseModel]:
        """Output model of the result tool."""
        return self._result_model

    # -- tool bodies ---------------------------------------------------------------------------------
    async def start(self, ctx: Context, **arguments: Any) -> CallToolResult | InputRequiredResult:
        """Body of the start tool: create, wait boundedly, describe (or ask for the input it waits for).

        A 2026-07-28 retry that answers an ``input_required`` round continues the instance it names
        instead of creating another one.
        """
        app = self._app()
        asked = input_rounds.asked_input(ctx)
        if asked is None:
            created = await self.create(arguments)
            if isinstance(created, CallToolResult):
                return created
            instance_id = created
        else:
            found = await self._find(app, asked.instance_id)
            if isinstance(found, CallToolResult):
                return found
            instance_id = found.instance_id
        record = await self._wait(ctx, app, instance_id, self.spec.wait_seconds, asked)
        return await self._ask(ctx, app, record, asked) or await self._started(app, record)

    async def create(self, arguments: dict[str, Any]) -> str | CallToolResult:
        """Validate the arguments and durably create an instance; its id, or an error result.

        The caller's principal owns the instance; ``idempotency_key`` (if in ``arguments``) picks its id.
        """
        arguments = dict(arguments)
        key = arguments.pop(IDEMPOTENCY_PARAM, None)
        size = len(json.dumps(arguments, default=str).encode())
        if size > self.spec.max_argument_bytes:
            return error(
                ErrorCode.INVALID_INPUT,
                f"Arguments of {self.spec.name} are too large ({size} bytes, limit "
                f"{self.spec.max_argument_bytes}); pass a reference (URL, id) instead of the data.",
            )
        principal = access.current_principal()
        iid = (
            access.keyed_instance_id(principal, self.spec.name, str(key))
            if key
            else access.new_instance_id(principal)
        )
        try:
            # Shielded: a cancelled or timed-out request must not leave the start half done.
            return await asyncio.shield(self._app().start(self.workflow, arguments, instance_id=iid))
        except InputValidationError as exc:
            return error(ErrorCode.INVALID_INPUT, f"Invalid arguments for {self.spec.name}: {exc}")
        except InstanceConflictError:
            return error(
                ErrorCode.CONFLICT,
                f"The {IDEMPOTENCY_PARAM} {key!r} was already used with different arguments; use a new key "
                "or the original arguments.",
            )

    async def _started(self, app: EddaApp, record: InstanceRecord) -> CallToolResult:
        status = await read_status(app, record)
        value: Any = None
        if record.status is InstanceStatus.COMPLETED:
            value = await app.wait_result(record.instance_id, timeout=5)
        out = self._start_model(
            instance_id=record.instance_id,
            workflow=record.workflow_name,
            status=record.status.value,
            finished=record.status.is_finished,
            result=value,
            error=status.error,
            poll_interval_seconds=status.poll_interval_seconds,
        )
        _, status_tool, result_tool, _ = self.tool_names
        if record.status is InstanceStatus.COMPLETED:
            text = f"{self.spec.name} completed (instance {record.instance_id})."
        elif record.status.is_finished:
            text = f"{self.spec.name} ended {record.status.value} (instance {record.instance_id}): {describe(status)}"
        else:
            text = (
                f"Started {self.spec.name} as instance {record.instance_id}; it is {record.status.value}. "
                f"Call {status_tool} in about {status.poll_interval_seconds:g}s, then {result_tool} once "
                "it is finished." + self._input_hint(status)
            )
        return ok(out, text)

    async def status(self, ctx: Context, instance_id: str) -> CallToolResult:
        """Body of ``<name>_status``."""
        app = self._app()
        found = await self._find(app, instance_id)
        if isinstance(found, CallToolResult):
            return found
        status = await read_status(app, found)
        return ok(status, describe(status) + self._input_hint(status))

    def _input_hint(self, status: StatusOut) -> str:
        wait = status.waiting_for
        if wait is None or not wait.event_types or not self.spec.human_input:
            return ""
        return f" It needs input: answer with {self.respond_tool_name} (data must match waiting_for.input_schemas)."

    async def result(
        self, ctx: Context, instance_id: str, wait_seconds: float
    ) -> CallToolResult | InputRequiredResult:
        """Body of ``<name>_result``."""
        app = self._app()
        found = await self._find(app, instance_id)
        if isinstance(found, CallToolResult):
            return found
        record = found
        asked = input_rounds.asked_input(ctx)
        if asked is not None and asked.instance_id != instance_id:
            asked = None  # state of another call: ignore it
        if not record.status.is_finished and wait_seconds > 0:
            seconds = min(wait_seconds, self.spec.max_wait_seconds)
            record = await self._wait(ctx, app, instance_id, seconds, asked)
            if (question := await self._ask(ctx, app, record, asked)) is not None:
                return question
        _, status_tool, result_tool, _ = self.tool_names
        if not record.status.is_finished and record.status is not InstanceStatus.BLOCKED:
            status = await read_status(app, record)
            return error(
                ErrorCode.NOT_FINISHED,
                f"Not finished yet: {describe(status)} Call {result_tool} again later "
                f"(or {status_tool} to follow progress).",
                instance_id=instance_id,
                status=record.status.value,
                poll_interval_seconds=status.poll_interval_seconds,
            )
        return await self.finished_result(app, record)

    async def finished_result(self, app: EddaApp, record: InstanceRecord) -> CallToolResult:
        """The result tool's answer for a finished (or blocked) instance."""
        instance_id = record.instance_id
        try:
            value = await app.wait_result(instance_id, timeout=5)
        except WorkflowCancelledError:
            return error(
                ErrorCode.CANCELLED,
                f"Instance {instance_id} was cancelled ({record.cancel_reason or 'no reason given'}); "
                "it has no result. Start a new run if needed.",
                instance_id=instance_id,
                status=record.status.value,
            )
        except WorkflowBlockedError as exc:
            return error(
                ErrorCode.BLOCKED,
                f"Instance {instance_id} is blocked: {exc}. An operator must fix the code and resume it.",
                instance_id=instance_id,
                status=record.status.value,
            )
        except WorkflowFailedError as exc:
            reason = record.error.message if record.error is not None else str(exc)
            return error(
                ErrorCode.FAILED,
                f"Instance {instance_id} failed: {reason}. Completed steps were compensated; fix the cause "
                "and start a new run.",
                instance_id=instance_id,
                status=record.status.value,
                error_type=exc.type_name or None,
            )
        out = self._result_model(instance_id=instance_id, status=record.status.value, result=value)
        return ok(out, f"{self.spec.name} (instance {instance_id}) completed.")

    async def task_result(self, app: EddaApp, record: InstanceRecord) -> CallToolResult:
        """The final ``tools/call`` result of a finished instance (matching the start tool's schema)."""
        if record.status is InstanceStatus.COMPLETED:
            return await self._started(app, record)
        return await self.finished_result(app, record)

    async def find(self, instance_id: str) -> InstanceRecord | CallToolResult:
        """The instance if the caller may see it and it belongs to this tool, else an error result."""
        return await self._find(self._app(), instance_id)

    async def respond(
        self, ctx: Context, instance_id: str, data: dict[str, Any], event_type: str | None
    ) -> CallToolResult:
        """Body of ``<name>_respond``."""
        app = self._app()
        found = await self._find(app, instance_id)
        if isinstance(found, CallToolResult):
            return found
        try:
            request, event_id = await human.deliver(app, found, event_type, data, self._source)
        except human.InputProblem as exc:
            return error(
                ErrorCode.INVALID_INPUT,
                f"Cannot answer instance {instance_id}: {exc}. Call {self.tool_names[1]} to see what it "
                "waits for.",
                instance_id=instance_id,
            )
        out = RespondOut(
            instance_id=instance_id,
            event_type=request.event_type,
            event_id=event_id,
            status=found.status.value,
        )
        return ok(out, f"Delivered {request.event_type!r} to instance {instance_id}; it continues now.")

    async def answer(self, record: InstanceRecord, event_type: str | None, data: dict[str, Any]) -> str:
        """Validate and deliver human input (raises ``human.InputProblem``); returns the event id."""
        _, event_id = await human.deliver(self._app(), record, event_type, data, self._source)
        return event_id

    @property
    def _source(self) -> str:
        return f"mcp://edda/{self.spec.name}"

    async def cancel(self, ctx: Context, instance_id: str) -> CallToolResult:
        """Body of ``<name>_cancel``."""
        app = self._app()
        found = await self._find(app, instance_id)
        if isinstance(found, CallToolResult):
            return found
        outcome = await asyncio.shield(
            app.cancel(instance_id, reason="cancelled via MCP", cancelled_by="mcp")
        )
        record = await app.get_instance(instance_id)
        out = CancelOut(instance_id=instance_id, outcome=outcome.value, status=record.status.value)
        text = {
            "requested": "Cancellation requested; compensations run before it ends cancelled.",
            "already-requested": "Cancellation was already requested.",
            "already-finished": f"Nothing to cancel: the instance already ended {record.status.value}.",
        }.get(outcome.value, outcome.value)
        return ok(out, f"{text} Call {self.tool_names[1]} to follow it.")

    # -- helpers -------------------------------------------------------------------------------------
    async def _find(self, app: EddaApp, instance_id: str) -> InstanceRecord | CallToolResult:
        unknown = error(
            ErrorCode.UNKNOWN_INSTANCE,
            f"No {self.spec.name} run has instance_id {instance_id!r}. Use the instance_id returned by "
            f"{self.spec.name} (start a new run if you have none).",
            instance_id=instance_id,
        )
        if not access.may_access(access.current_principal(), instance_id):
            return unknown  # never reveal that another principal's instance exists
        try:
            record = await app.get_instance(instance_id)
        except InstanceNotFoundError:
            return unknown
        except EddaError as exc:
            return error(ErrorCode.UNAVAILABLE, f"Cannot read instance {instance_id!r} right now: {exc}")
        if record.workflow_name != self.workflow.name:
            return error(
                ErrorCode.WRONG_WORKFLOW,
                f"Instance {instance_id} is a {record.workflow_name!r} run, not {self.workflow.name!r}; "
                f"use the {record.workflow_name}_status/_result/_cancel tools.",
                instance_id=instance_id,
            )
        return record

    async def _wait(
        self,
        ctx: Context,
        app: EddaApp,
        instance_id: str,
        seconds: float,
        asked: input_rounds.AskedInput | None = None,
    ) -> InstanceRecord:
        progress = ProgressReporter(ctx)

        async def report(count: int, step: str) -> None:
            # A no-op unless the caller sent a progress token (and, over HTTP, accepts SSE).
            await progress.send(f"step {count} done: {step}")

        if asked is not None and self.spec.human_input:
            record = await app.get_instance(instance_id)
            await input_rounds.deliver_answer(ctx, app, record, asked, self._source)
        if seconds <= 0:
            return await app.get_instance(instance_id)
        async with forwarding_streams(app, instance_id, progress):  # stream chunks as progress too
            return await self._wait_with(ctx, app, instance_id, seconds, report)

    async def _wait_with(
        self, ctx: Context, app: EddaApp, instance_id: str, seconds: float, report: StepCallback
    ) -> InstanceRecord:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        record = await wait_settled(app, self._feed, instance_id, seconds, report)
        while (
            record.status is InstanceStatus.WAITING
            and self.spec.human_input
            and human.supports_elicitation(ctx)
            and not input_rounds.uses_input_required(ctx)  # 2026-07-28: no requests mid-call (see _ask)
            and await human.elicit(ctx, app, record, self._source)
        ):
            record = await wait_settled(app, self._feed, instance_id, deadline - loop.time(), report)
        return record

    async def _ask(
        self, ctx: Context, app: EddaApp, record: InstanceRecord, asked: input_rounds.AskedInput | None
    ) -> InputRequiredResult | None:
        """For a 2026-07-28 client with elicitation: ask for the input the run waits for (else None)."""
        if not self.spec.human_input:
            return None
        return await input_rounds.input_required(ctx, app, record, asked)


def raise_reserved(workflow_name: str) -> None:
    """Reject a workflow whose parameter collides with a generated one."""
    raise ToolDefinitionError(
        f"workflow {workflow_name}: parameter {IDEMPOTENCY_PARAM!r} is reserved by durable tools; rename it"
    )
