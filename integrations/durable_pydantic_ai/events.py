"""Durable waits for deferred tools: pydantic-ai's ``ExternalEventWaiter`` on Edda's ``wait_event``.

pydantic-ai's ``RequestInput`` capability (and anything else calling ``wait_for_external_event``) asks
the installed waiter to wait. Inside a durable run :class:`EddaEventWaiter` records the ``ask`` callback
as one activity, then parks the instance in ``wait_event(ctx, <name>)``: no worker is held, a crash
does not lose the wait, and replay returns the recorded answer. The event type is the wait's ``name``
(``"deferred_tool_calls"`` by default), so MCP human input (``<tool>_respond``, elicitation) answers it
like any other wait; :func:`approvals` adds a JSON schema listing each pending call.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model
from pydantic_ai.capabilities import RequestInput
from pydantic_ai.durable_exec import ExternalEventError, ExternalEventWaiter
from pydantic_ai.tools import AgentDepsT, DeferredToolRequests, DeferredToolResults, RunContext

from durable_core import Activity, EventTimeoutError, WorkflowContext, wait_event
from durable_pydantic_ai.backend import workflow_context

#: The deferred calls the current ``approvals()`` wait is about (per task, set around one wait).
_PENDING: ContextVar[DeferredToolRequests | None] = ContextVar("durable_pydantic_ai_pending", default=None)


class DeferredToolAnswer(BaseModel):
    """The answer a wait accepts when no pending calls are known: ``DeferredToolResults`` as JSON."""

    model_config = ConfigDict(extra="forbid")

    approvals: dict[str, bool] = Field(default_factory=dict, description="tool_call_id -> approved?")
    calls: dict[str, JsonValue] = Field(default_factory=dict, description="tool_call_id -> result")


def _describe(tool_name: str, args: dict[str, Any]) -> str:
    return f"{tool_name}({json.dumps(args, sort_keys=True, default=str)})"


def answer_model(requests: DeferredToolRequests) -> type[BaseModel]:
    """A model whose JSON schema names every pending call, so a human sees what to decide.

    ``approvals`` has one boolean per call needing approval, ``calls`` one value per external call,
    each keyed by its ``tool_call_id`` and described as ``tool(args)``.
    """
    config = ConfigDict(extra="forbid", populate_by_name=True)
    approvals: dict[str, Any] = {
        f"a{i}": (
            bool,
            Field(alias=call.tool_call_id, description=_describe(call.tool_name, call.args_as_dict())),
        )
        for i, call in enumerate(requests.approvals)
    }
    calls: dict[str, Any] = {
        f"c{i}": (
            JsonValue,
            Field(alias=call.tool_call_id, description=_describe(call.tool_name, call.args_as_dict())),
        )
        for i, call in enumerate(requests.calls)
    }
    fields: dict[str, Any] = {}
    if approvals:
        fields["approvals"] = (create_model("PendingApprovals", __config__=config, **approvals), ...)
    if calls:
        fields["calls"] = (create_model("PendingCalls", __config__=config, **calls), ...)
    return create_model("DeferredToolAnswer", __config__=ConfigDict(extra="forbid"), **fields)


class EddaEventWaiter(ExternalEventWaiter):
    """Waits for an external event durably: ``ask`` is one activity, the wait is ``wait_event``.

    The resume token handed to ``ask`` is ``"<instance_id> <event_type>"``: resolve it by sending an
    event of that type to that instance (``app.send_event(event_type, source, data, instance_id=...)``,
    the MCP ``_respond`` tool, or elicitation). The data is ``DeferredToolResults`` as JSON, e.g.
    ``{"approvals": {"<tool_call_id>": true}}``.
    """

    def __init__(self, agent_name: str) -> None:
        self._agent_name = agent_name

    async def wait(
        self,
        name: str,
        *,
        ask: Callable[[str], Awaitable[JsonValue]],
        timeout: timedelta | None,
    ) -> JsonValue:
        """Record ``ask`` once, then wait durably for the answer (see the class docstring)."""
        ctx = workflow_context(f"wait for {name!r}")
        token = f"{ctx.instance_id} {name}"

        async def ask_once(actx: WorkflowContext, token: str) -> Any:
            return await ask(token)

        answer: JsonValue = await Activity(ask_once, name=f"{self._agent_name}__external_event.{name}.ask")(
            ctx, token
        )
        if answer is not None:
            return answer
        pending = _PENDING.get()
        model = DeferredToolAnswer if pending is None else answer_model(pending)
        seconds = None if timeout is None else timeout.total_seconds()
        try:
            event = await wait_event(ctx, name, seconds, model=model)
        except EventTimeoutError as exc:
            raise ExternalEventError(str(exc)) from exc
        data: JsonValue = event.data.model_dump(mode="json", by_alias=True)
        return data


class DurableApprovals(RequestInput[AgentDepsT]):
    """``RequestInput`` whose wait shows each pending call in its schema (build it with :func:`approvals`)."""

    async def handle_deferred_tool_calls(
        self, ctx: RunContext[AgentDepsT], *, requests: DeferredToolRequests
    ) -> DeferredToolResults:
        """Wait for the decisions on ``requests`` (durably inside a workflow)."""
        token = _PENDING.set(requests)
        try:
            return await super().handle_deferred_tool_calls(ctx, requests=requests)
        finally:
            _PENDING.reset(token)


async def _wait_for_human(ctx: RunContext[Any], requests: DeferredToolRequests, token: str) -> None:
    """The default ``ask``: answer nothing now, so the run waits for the event."""
    return None


def approvals(
    *, name: str = "deferred_tool_calls", timeout: timedelta | None = None, ask: Any = None
) -> DurableApprovals[Any]:
    """A capability that turns tool approvals / deferred calls into a durable wait for a human.

    Add it next to :class:`~durable_pydantic_ai.EddaDurability`:
    ``Agent(..., capabilities=[EddaDurability(), approvals()])``. When a tool raises
    ``ApprovalRequired`` (or is declared with ``requires_approval=True``), the workflow parks in
    ``wait_event(ctx, name)`` whose schema lists the pending calls by ``tool_call_id``; the answer
    ``{"approvals": {"<id>": true | false}}`` (over MCP: the ``_respond`` tool or elicitation) resumes
    the same agent run, which executes approved calls and tells the model about denied ones.

    Args:
        name: the event type waited for (stable across deploys: it is part of the history).
        timeout: deny everything pending when no answer arrives in time (None waits forever).
        ask: optional ``ask(ctx, requests, token)`` that notifies someone (runs once, as an activity);
            returning ``DeferredToolResults`` answers at once without waiting.
    """
    return DurableApprovals(ask=ask or _wait_for_human, name=name, timeout=timeout)
