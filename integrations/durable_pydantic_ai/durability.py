"""``EddaDurability``: the pydantic-ai capability that makes an ``Agent`` durable on Edda.

Built on pydantic-ai's public engine seam (``pydantic_ai.durable_exec.BaseDurabilityCapability`` plus
a ``CallableOperationBackend``), like its Temporal, DBOS and Prefect integrations: the base wraps the
agent's model and toolsets, and every model request, tool call and MCP list/call reaches
:class:`~durable_pydantic_ai.backend.EddaOperationBackend`, which runs it as one activity. Outside a
workflow the capability is transparent: the agent runs as a plain, non-durable agent.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from pydantic_ai.agent import AbstractAgent, EventStreamHandler
from pydantic_ai.capabilities.abstract import WrapRunHandler
from pydantic_ai.durable_exec import (
    JSON_CODEC,
    BaseDurabilityCapability,
    DurabilityEngineSpec,
    DurableOperationId,
    ToolsetCallToolId,
    ToolsetKind,
    ToolsetValidateToolArgumentsId,
    conversation_id_from_run_id,
    external_event_scope,
)
from pydantic_ai.models import Model
from pydantic_ai.run import AgentRunResult
from pydantic_ai.tools import AgentDepsT, RunContext
from pydantic_ai.toolsets import ToolsetTool

from durable_core import TerminalError, current_context
from durable_pydantic_ai.backend import (
    ActivityConfig,
    BeforeModelRequest,
    EddaOperationBackend,
    EddaOperationConfig,
)
from durable_pydantic_ai.errors import AgentMisuseError
from durable_pydantic_ai.events import EddaEventWaiter
from durable_pydantic_ai.sync_runs import refuse_sync_runs_in_workflows


def _serialization_failure(exc: Exception) -> BaseException:
    return TerminalError(f"a pydantic-ai result cannot be recorded as JSON: {exc}")


def _in_workflow_body() -> bool:
    ctx = current_context()
    return ctx is not None and not ctx.in_activity


@dataclass(init=False, kw_only=True)
class EddaDurability(BaseDurabilityCapability[AgentDepsT]):
    """Capability that makes an agent durable by running its I/O as Edda activities.

    Attach it to an agent with a stable ``name`` and call ``agent.run(...)`` (or ``iter`` /
    ``run_stream``) inside an Edda ``@workflow``: each model request, tool call and MCP
    ``list_tools``/``call_tool`` is one activity, recorded as JSON; after a crash the workflow replays
    and only the step that was in flight runs again. Deferred tools answered through
    ``RequestInput`` (see :func:`~durable_pydantic_ai.approvals`) wait durably with ``wait_event``.

    Example::

        agent = Agent(model, name="support", capabilities=[EddaDurability()])
    """

    engine_spec = DurabilityEngineSpec(
        engine_name="Edda",
        durable_unit_noun="activity",
        durable_unit_plural="activities",
        durable_container_noun="workflow",
        codec=JSON_CODEC,  # history stores JSON: pydantic-ai reduces its objects before they are recorded
        serialization_failure=_serialization_failure,
        wrapped_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
        toolset_lifecycles={
            "function": "enter-always",
            "mcp": "enter-in-durable-unit",
            "dynamic": "enter-never",
        },
        journal_discovery=True,
        # Activities take history positions in call order; tool calls of one turn run one after the
        # other so a replay meets them in the recorded order.
        sequential_tools_in_durable_context=True,
        unsupported_runtime_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
        tool_config_key="edda",
    )

    def __init__(
        self,
        *,
        models: Mapping[str, Model] | None = None,
        event_stream_handler: EventStreamHandler[AgentDepsT] | None = None,
        name: str | None = None,
        model_activity: ActivityConfig | None = None,
        tool_activity: ActivityConfig | None = None,
        mcp_activity: ActivityConfig | None = None,
        before_model_request: BeforeModelRequest | None = None,
        stream_name: str | None = None,
        rate_limit: str | None = None,
    ) -> None:
        """Create the capability; the agent's model, name and toolsets are found when it is attached.

        Args:
            models: more models by id, for ``agent.run(model=...)`` inside a workflow (a ``Model``
                instance cannot be recorded, so it is looked up by id in the activity).
            event_stream_handler: receives the run's events. Model events (streamed tokens) reach it
                live inside the model-request activity, so they are not repeated on replay.
            name: stable name used in activity names (default: the agent's ``name``).
            model_activity: retry policy / timeout of model-request activities.
            tool_activity: retry policy / timeout of tool-call activities; per tool with
                ``metadata={'edda': {...}}`` (``False`` runs that tool inline, not as an activity).
            mcp_activity: retry policy / timeout of MCP ``list_tools``/``call_tool`` activities.
            before_model_request: async hook called in the workflow body before each model request
                activity (LLM budgets use it); it may raise to refuse the request.
            stream_name: also write the text tokens of streamed model requests (``run_stream``,
                ``iter``) to this durable output stream of the instance (``ctx.stream(name)``), where
                ``app.read_stream``/``follow_stream`` readers and MCP progress see them live.
            rate_limit: name of a ``RateLimit`` in ``EddaApp(rate_limits={...})`` that every model
                request takes a grant of before it is sent (waiting durably while the limit is used up);
                shorthand for ``model_activity={"rate_limit": ...}``. Tools take grants only when
                ``tool_activity`` (or a tool's ``metadata={'edda': {...}}``) names a limit.
        """
        super().__init__(models=models, event_stream_handler=event_stream_handler, name=name)
        self._model_activity: ActivityConfig = dict(model_activity or {})  # type: ignore[assignment]
        if rate_limit is not None:
            self._model_activity["rate_limit"] = rate_limit
        self._tool_activity: ActivityConfig = dict(tool_activity or {})  # type: ignore[assignment]
        self._mcp_activity: ActivityConfig = dict(mcp_activity or {})  # type: ignore[assignment]
        self._before_model_request = before_model_request
        self._stream_name = stream_name

    @property
    def in_durable_context(self) -> bool:
        """True in an Edda workflow body (not inside an activity, where calls run directly)."""
        return _in_workflow_body()

    def get_default_run_id(self) -> str | None:
        """A replay-stable run id: a durable ``ctx.uuid()`` of the workflow."""
        ctx = current_context()
        if ctx is None or ctx.in_activity:
            return None
        return f"{ctx.instance_id}:{ctx.uuid()}"

    def get_default_conversation_id(self, run_id: str) -> str | None:
        """The conversation id derived from the replay-stable run id."""
        return conversation_id_from_run_id(run_id) if _in_workflow_body() else None

    async def get_run_start_time(self, run_id: str) -> datetime | None:
        """The run's start time, recorded once (``ctx.now()``), so ``timeout=`` survives a restart."""
        ctx = current_context()
        if ctx is None or ctx.in_activity:
            return None
        return ctx.now()

    def _bind_to_agent(self, agent: AbstractAgent[AgentDepsT, Any]) -> None:
        """Wrap the agent's toolsets (pydantic-ai's default) and refuse its sync runs inside workflows."""
        super()._bind_to_agent(agent)
        refuse_sync_runs_in_workflows(agent)

    def get_durable_operation_backend(self) -> EddaOperationBackend:
        """The backend that runs every durable operation as an activity."""

        def tool_config(
            operation_id: DurableOperationId, tool: object | None, tool_name: str
        ) -> ActivityConfig | Literal[False]:
            assert isinstance(operation_id, ToolsetCallToolId | ToolsetValidateToolArgumentsId)
            resolve = self._build_resolve_tool_config(self._toolset_base_config(operation_id.toolset_kind))
            return cast(
                ActivityConfig | Literal[False], resolve(cast(ToolsetTool[Any] | None, tool), tool_name)
            )

        return EddaOperationBackend(
            agent_name=self.name,
            config=EddaOperationConfig(
                model=self._model_activity,
                event=self._model_activity,
                capability=self._tool_activity,
                tool=self._tool_activity,
                resolve_tool=tool_config,
            ),
            before_model_request=self._before_model_request,
        )

    def _model_stream_event_handler(self) -> EventStreamHandler[AgentDepsT] | None:
        """The handler that sees the live model stream inside a model-request activity.

        This is the single place where ``run_stream`` / ``iter`` tokens leave the activity while the
        model is still streaming (the workflow body itself only gets the recorded final response).
        With ``stream_name`` the text deltas are also written to that durable output stream from inside
        the activity (``current_context()`` is the activity's context), so every attempt's chunks are
        stored and marked with its attempt (see docs/streams.md).
        """
        inner = super()._model_stream_event_handler()
        if self._stream_name is None:
            return inner
        return _tee_text_to_stream(self._stream_name, inner)

    def _toolset_base_config(self, kind: ToolsetKind) -> Any:
        return self._mcp_activity if kind == "mcp" else self._tool_activity

    async def wrap_run(self, ctx: RunContext[AgentDepsT], *, handler: WrapRunHandler) -> AgentRunResult[Any]:
        """Install the durable external-event waiter (deferred tools wait with ``wait_event``)."""
        if not self.in_durable_context:
            return await super().wrap_run(ctx, handler=handler)
        if not self.name:  # pragma: no cover - the base refuses unnamed agents when binding
            raise AgentMisuseError("EddaDurability needs a named agent")
        with external_event_scope(EddaEventWaiter(self.name)):
            return await super().wrap_run(ctx, handler=handler)


def _tee_text_to_stream(name: str, inner: EventStreamHandler[Any] | None) -> EventStreamHandler[Any]:
    """An event stream handler that writes text deltas to ``ctx.stream(name)``, then hands events on."""

    async def handler(run_ctx: RunContext[Any], events: AsyncIterable[Any]) -> None:
        ctx = current_context()
        writer = ctx.stream(name) if ctx is not None and ctx.in_activity else None

        async def tee() -> AsyncIterator[Any]:
            async for event in events:
                delta = getattr(getattr(event, "delta", None), "content_delta", None)
                if writer is not None and isinstance(delta, str) and delta:
                    writer.write(delta)
                yield event

        if inner is not None:
            await inner(run_ctx, tee())
        else:
            async for _ in tee():
                pass
        if writer is not None:
            await writer.flush()

    return handler
