"""The activities this package records: one model request, one tool call.

Activity bodies run only live (never on replay): they call the provider or the tool and return JSON.
The code objects they need (tools, formats, prompt functions) come from the workflow code through a
:class:`CallSpec` closure and are never part of the recorded arguments or results.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from mirascope import llm
from mirascope.llm.formatting import resolve_format
from mirascope.llm.tools import AsyncToolkit, BaseToolkit, ProviderTool

from durable_core import Activity, OutputStream, RetryPolicy, WorkflowContext, current_budget
from durable_mirascope.errors import (
    ModelOverrideError,
    ModelRequestError,
    ModelRequestRejectedError,
    UnsupportedToolError,
)
from durable_mirascope.records import (
    ResponseRecord,
    decode_messages,
    encode_tool_output,
)

CallOperation = "mirascope.call"
StreamOperation = "mirascope.stream"
RequestOperation = "mirascope.request"
ResumeOperation = "mirascope.resume"
ToolOperation = "mirascope.tool"

ChunkHandler = Callable[[llm.AssistantContentChunk], Awaitable[None] | None]

#: the durable output stream a streamed call writes its text deltas to unless told otherwise
DEFAULT_STREAM = "tokens"


@dataclass(frozen=True, slots=True)
class Streaming:
    """How a streamed request reports its chunks (code-side, never recorded).

    Attributes:
        stream_name: the durable output stream (``ctx.stream``) text deltas are written to, or None.
        on_chunk: called with each ``llm.AssistantContentChunk`` while the activity streams, or None.
    """

    stream_name: str | None = DEFAULT_STREAM
    on_chunk: ChunkHandler | None = None


# Mirascope errors that no retry can fix: the request itself is wrong or not allowed.
REJECTED: tuple[type[Exception], ...] = (
    llm.BadRequestError,
    llm.AuthenticationError,
    llm.PermissionError,
    llm.NotFoundError,
    llm.FeatureNotSupportedError,
    llm.NoRegisteredProviderError,
    llm.MissingAPIKeyError,
    llm.ParseError,
    llm.ToolError,
)


def check_tools(tools: Sequence[Any] | BaseToolkit[Any]) -> tuple[Any, ...]:
    """Validate tools for durable execution (plain sync/async tools and provider tools only).

    Args:
        tools: a sequence of tools, or a mirascope toolkit.

    Raises:
        UnsupportedToolError: a context tool (needs an ``llm.Context``) or a non-tool object.
    """
    if isinstance(tools, BaseToolkit):
        tools = list(tools.tools)
    for tool in tools:
        if isinstance(tool, (llm.ContextTool, llm.AsyncContextTool)):
            raise UnsupportedToolError(
                f"tool {tool.name!r} takes an llm.Context; durable_mirascope runs plain tools only "
                "(pass dependencies through the prompt or a closure instead)"
            )
        if not isinstance(tool, (llm.Tool, llm.AsyncTool, ProviderTool)):
            raise UnsupportedToolError(f"not a mirascope tool: {tool!r} (decorate it with @llm.tool)")
    return tuple(tools)


@dataclass(frozen=True, slots=True)
class CallSpec:
    """Code-side configuration of a durable model request (never recorded).

    Attributes:
        label: stable name of the call (the prompt function's name); part of activity names.
        model_id: mirascope model id, e.g. ``"openai/gpt-5-mini"``.
        params: model parameters (temperature, max_tokens, ...).
        tools: the tools offered to the model.
        format: the structured-output format spec, if any.
        retry_policy: retries of the model request (default: the app's policy; rejected requests are
            never retried).
        tool_retry_policy: retries of each tool call (default: the app's policy).
        timeout: seconds one model request attempt may take.
        rate_limit: name of an app ``RateLimit`` each model request takes a grant of (waiting durably).
    """

    label: str
    model_id: str
    params: Mapping[str, Any]
    tools: tuple[Any, ...] = ()
    format: Any = None
    retry_policy: RetryPolicy | None = None
    tool_retry_policy: RetryPolicy | None = None
    timeout: float | None = None
    rate_limit: str | None = None

    def toolkit(self) -> AsyncToolkit:
        """A toolkit over the tools (used for encoding the request and for rebuilt responses)."""
        return AsyncToolkit(tools=cast(Any, list(self.tools)))

    def describe(self) -> dict[str, Any]:
        """Stable JSON description of the request shape (part of the determinism check)."""
        fmt = None if self.format is None else resolve_format(self.format, "json")
        return {
            "model_id": self.model_id,
            "params": dict(self.params),
            "tools": [tool.name for tool in self.tools],
            "format": None if fmt is None else fmt.name,
        }

    def activity(self, operation: str, fn: Callable[..., Awaitable[Any]]) -> Activity[Any, Any]:
        """Wrap ``fn`` as the model-request activity named ``operation:label``."""
        return Activity(
            fn,
            name=f"{operation}:{self.label}",
            retry_policy=self.retry_policy,
            timeout=self.timeout,
            rate_limit=self.rate_limit,
        )


def _qualified(exc: BaseException) -> str:
    return f"{type(exc).__module__}:{type(exc).__qualname__}"


async def provider_call(
    spec: CallSpec,
    messages: Sequence[llm.Message],
    *,
    stream: bool = False,
    on_chunk: ChunkHandler | None = None,
    out: OutputStream | None = None,
) -> dict[str, Any]:
    """Call the model (inside an activity) and return the recorded JSON of its final response.

    Raises:
        ModelRequestRejectedError: the provider rejected the request (not retried).
        ModelRequestError: any other mirascope error (retried by the activity's policy).
    """
    try:
        return await _provider_call(spec, messages, stream=stream, on_chunk=on_chunk, out=out)
    except REJECTED as exc:
        raise ModelRequestRejectedError(str(exc), _qualified(exc), getattr(exc, "status_code", None)) from exc
    except llm.Error as exc:
        raise ModelRequestError(str(exc), _qualified(exc), getattr(exc, "status_code", None)) from exc


async def _provider_call(
    spec: CallSpec,
    messages: Sequence[llm.Message],
    *,
    stream: bool,
    on_chunk: ChunkHandler | None,
    out: OutputStream | None,
) -> dict[str, Any]:
    model = llm.Model(spec.model_id, **cast(Any, dict(spec.params)))
    toolkit = spec.toolkit()
    if not stream:
        response = await model.call_async(messages, tools=toolkit, format=spec.format)
        return ResponseRecord.from_response(response, raw=response.raw).to_json()
    streamed = await model.stream_async(messages, tools=toolkit, format=spec.format)
    async for chunk in streamed.chunk_stream():
        if out is not None and chunk.type == "text_chunk":
            out.write(chunk.delta)  # batched; stored before this activity's result is recorded
        if on_chunk is not None:
            outcome = on_chunk(chunk)
            if inspect.isawaitable(outcome):
                await outcome
    return ResponseRecord.from_response(streamed).to_json()


async def budgeted_request(
    act: Activity[Any, Any], ctx: WorkflowContext, *args: Any, **kwargs: Any
) -> dict[str, Any]:
    """Run a model-request activity under the instance's LLM budget (if it has one).

    The budget is checked before the activity is scheduled (no request is sent once it is spent) and
    charged with the recorded response afterwards, live or replayed, so usage never counts twice.
    """
    ledger = current_budget()
    if ledger is not None:
        ledger.check(f"model request {act.name}")
    recorded: dict[str, Any] = await act(ctx, *args, **kwargs)
    if ledger is not None:
        ledger.charge(recorded)
    return recorded


def refuse_model_override(spec: CallSpec) -> None:
    """Raise when ``with llm.model(...)`` overrides the model of a durable call with another one.

    Raises:
        ModelOverrideError: the context model's id or parameters differ from the call's.
    """
    override = llm.model_from_context()
    if override is None:
        return
    if override.model_id != spec.model_id or dict(override.params or {}) != dict(spec.params or {}):
        raise ModelOverrideError(
            f"durable call {spec.label!r} uses {spec.model_id!r}, but a `with llm.model({override.model_id!r}, "
            "...)` override is active around it; durable calls do not take context overrides (the model is "
            "part of their recorded configuration): pass the model to durable_call(...) instead"
        )


def request_activity(
    spec: CallSpec, operation: str, streaming: Streaming | None = None
) -> Activity[Any, Any]:
    """Activity that sends a recorded-in-arguments conversation to the model (streamed with ``streaming``)."""
    refuse_model_override(spec)

    async def model_request(ctx: WorkflowContext, request: dict[str, Any]) -> dict[str, Any]:
        messages = decode_messages(request["messages"])
        if streaming is None:
            return await provider_call(spec, messages)
        out = ctx.stream(streaming.stream_name) if streaming.stream_name else None
        return await provider_call(spec, messages, stream=True, on_chunk=streaming.on_chunk, out=out)

    return spec.activity(operation, model_request)


def prompt_activity(
    spec: CallSpec,
    operation: str,
    render: Callable[..., Awaitable[Sequence[llm.Message]]],
    *,
    streaming: Streaming | None = None,
) -> Activity[Any, Any]:
    """Activity that renders the prompt function with the call's arguments, then calls the model."""
    refuse_model_override(spec)

    async def model_call(ctx: WorkflowContext, *args: Any, **kwargs: Any) -> dict[str, Any]:
        messages = await render(*args, **kwargs)
        if streaming is None:
            return await provider_call(spec, messages)
        out = ctx.stream(streaming.stream_name) if streaming.stream_name else None
        return await provider_call(spec, messages, stream=True, on_chunk=streaming.on_chunk, out=out)

    return spec.activity(operation, model_call)


def tool_activity(tools: Sequence[Any], name: str, retry_policy: RetryPolicy | None) -> Activity[Any, Any]:
    """Activity ``mirascope.tool:<name>`` that executes one tool call and returns its output as JSON.

    A tool that raises is reported to the model as mirascope does (a ``ToolOutput`` carrying the error
    message), so the recorded outcome is that output; the activity is not retried for it.
    """
    by_name = {tool.name: tool for tool in tools if not isinstance(tool, ProviderTool)}

    async def tool_call(ctx: WorkflowContext, call: dict[str, Any]) -> dict[str, Any]:
        request = llm.ToolCall(id=call["id"], name=call["name"], args=call["args"])
        tool = by_name.get(request.name)
        if tool is None:
            missing = llm.ToolNotFoundError(request.name)
            output = llm.ToolOutput(id=request.id, name=request.name, result=str(missing), error=missing)
        elif isinstance(tool, llm.AsyncTool):
            output = await tool.execute(request)
        else:
            output = await asyncio.to_thread(tool.execute, request)
        return encode_tool_output(output)

    return Activity(tool_call, name=f"{ToolOperation}:{name}", retry_policy=retry_policy)
