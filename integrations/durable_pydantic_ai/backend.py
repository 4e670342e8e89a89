"""The operation backend: runs each pydantic-ai durable operation as one Edda activity.

pydantic-ai's ``CallableOperationBackend`` hands us a named body per model request, tool call, MCP
list/call and event-handler call; :meth:`EddaOperationBackend.execute` wraps that body in an
:class:`~durable_core.Activity` named after the operation and awaits it with the workflow's context.
The body runs only live; on replay the recorded JSON result comes back instead, and pydantic-ai's
JSON codec rebuilds its own objects (``ModelResponse``, tool results) from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from pydantic_ai.durable_exec import (
    CallableOperationBackend,
    DurableOperationId,
    JournalOperationNamer,
    ModelRequestId,
    RoleBasedOperationConfig,
)
from pydantic_ai.exceptions import ModelHTTPError, UserError

from durable_core import Activity, RetryPolicy, WorkflowContext, current_budget, current_context
from durable_pydantic_ai.errors import AgentMisuseError, ModelRequestError, ModelRequestRejectedError

# Provider answers that a retry may fix: timeouts, conflicts, rate limits. Any other 4xx is final.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})

#: Hook run before every live model request (budgets plug in here); raises to refuse the request.
BeforeModelRequest = Callable[[WorkflowContext], Awaitable[None]]


class ActivityConfig(TypedDict, total=False):
    """Per-role (or per-tool, via ``metadata={'edda': {...}}``) activity options.

    Attributes:
        retry_policy: the activity's retry policy (default: the app's).
        timeout: seconds one attempt may take.
        rate_limit: name of a ``RateLimit`` in ``EddaApp(rate_limits={...})``: every live call takes a
            grant of it first, waiting durably (the workflow parks) while the limit is used up. Shared by
            every process on the database, so one limit can stand for a provider's requests per minute.
    """

    retry_policy: RetryPolicy
    timeout: float
    rate_limit: str


EddaOperationConfig = RoleBasedOperationConfig[ActivityConfig]


def workflow_context(what: str) -> WorkflowContext:
    """The workflow-body context of the running instance (pydantic-ai asked for a durable unit)."""
    ctx = current_context()
    if ctx is None or ctx.in_activity:
        raise AgentMisuseError(f"{what}: a durable pydantic-ai operation ran outside an Edda workflow body")
    return ctx


def _translate(exc: Exception) -> Exception:
    """Map pydantic-ai failures to errors whose retry behaviour is right for the engine."""
    if isinstance(exc, UserError):
        return AgentMisuseError(f"pydantic-ai refused the call: {exc}")
    if isinstance(exc, ModelHTTPError):
        status = exc.status_code
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            return ModelRequestRejectedError(str(exc), status)
        return ModelRequestError(str(exc), status)
    return exc


class EddaOperationBackend(CallableOperationBackend[ActivityConfig]):
    """Callable backend whose durable unit is an Edda activity named by pydantic-ai's journal namer.

    Names are ``<agent>__model.request``, ``<agent>__function_toolset__<id>.call_tool:<tool>``,
    ``<agent>__mcp_server__<id>.get_tools`` and so on (pydantic-ai's ``JournalOperationNamer``): they
    are persisted and checked on replay, so keep the agent's name and toolset ids stable.
    """

    def __init__(
        self,
        *,
        agent_name: str,
        config: EddaOperationConfig,
        before_model_request: BeforeModelRequest | None = None,
    ) -> None:
        super().__init__(namer=JournalOperationNamer(agent_name), config=config)
        self._before_model_request = before_model_request

    async def execute(
        self,
        *,
        operation_id: DurableOperationId,
        name: str,
        body: Callable[[], Awaitable[object]],
        cache_key: tuple[object, ...],
        config: ActivityConfig,
    ) -> object:
        """Run ``body`` as the activity ``name`` of the current workflow and return its recorded result."""
        ctx = workflow_context(name)
        is_model_request = isinstance(operation_id, ModelRequestId)
        ledger = current_budget() if is_model_request else None
        if ledger is not None:
            ledger.check(f"model request {name}")  # nothing is sent once the budget is spent
        if is_model_request and self._before_model_request is not None:
            await self._before_model_request(ctx)

        async def run(actx: WorkflowContext) -> Any:
            try:
                return await body()
            except Exception as exc:
                translated = _translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

        act: Activity[[], Any] = Activity(
            run,
            name=name,
            retry_policy=config.get("retry_policy"),
            timeout=config.get("timeout"),
            rate_limit=config.get("rate_limit"),
        )
        result = await act(ctx)
        if ledger is not None:
            ledger.charge(result)  # the recorded response, live or replayed: counted once per execution
        return result
