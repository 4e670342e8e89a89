"""``@durable_call``: an ``llm.call`` whose model requests are recorded activities.

``durable_call`` takes exactly ``llm.call``'s arguments (model, tools, format, params) plus durability
options, builds the ``llm.call`` itself, and returns a :class:`DurableCall`. Call it from a workflow with
the ``WorkflowContext`` first: ``await answer(ctx, question)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec

from mirascope import llm
from mirascope.llm.prompts import AsyncPrompt, Prompt

from durable_core import RetryPolicy, WorkflowContext
from durable_mirascope._ops import (
    DEFAULT_STREAM,
    CallOperation,
    CallSpec,
    ChunkHandler,
    Streaming,
    StreamOperation,
    budgeted_request,
    check_tools,
    prompt_activity,
)
from durable_mirascope.agent import DEFAULT_MAX_STEPS, AgentResult, run_agent
from durable_mirascope.errors import UnsupportedToolError
from durable_mirascope.response import DurableResponse, build_response

P = ParamSpec("P")


class DurableCall(Generic[P]):
    """A mirascope call whose requests are durable.

    Every invocation is one activity named ``mirascope.call:<name>`` (``mirascope.stream:<name>`` for
    :meth:`stream`); its arguments are the prompt function's arguments. The prompt function runs inside
    that activity, so it is not re-run on replay; the rendered messages are part of the recorded response.
    """

    def __init__(
        self,
        call: llm.Call[P, Any] | llm.AsyncCall[P, Any],
        *,
        name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        tool_retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
        rate_limit: str | None = None,
    ) -> None:
        if isinstance(call, (llm.ContextCall, llm.AsyncContextCall)) or not isinstance(
            call, (llm.Call, llm.AsyncCall)
        ):
            raise UnsupportedToolError(
                f"durable_call needs a plain llm.call (no llm.Context parameter), got {type(call).__name__}"
            )
        self.call = call
        model = call.default_model
        self.spec = CallSpec(
            label=name or call.__name__,
            model_id=model.model_id,
            params=dict(model.params),
            tools=check_tools(call.prompt.toolkit.tools),
            format=call.prompt.format,
            retry_policy=retry_policy,
            tool_retry_policy=tool_retry_policy,
            timeout=timeout,
            rate_limit=rate_limit,
        )
        self.__name__ = self.spec.label
        self.__doc__ = call.__doc__

    @property
    def name(self) -> str:
        """The stable name used in this call's activity names."""
        return self.spec.label

    async def messages(self, *args: P.args, **kwargs: P.kwargs) -> Sequence[llm.Message]:
        """Render the prompt function (what the activity sends to the model)."""
        prompt = self.call.prompt
        if isinstance(prompt, AsyncPrompt):
            rendered = await prompt.messages(*args, **kwargs)
        else:
            assert isinstance(prompt, Prompt)
            rendered = prompt.messages(*args, **kwargs)
        return list(rendered)

    async def __call__(self, ctx: WorkflowContext, *args: P.args, **kwargs: P.kwargs) -> DurableResponse:
        """Make the model request as one activity and return the (recorded) response."""
        act = prompt_activity(self.spec, CallOperation, self.messages)
        return build_response(ctx, self.spec, await budgeted_request(act, ctx, *args, **kwargs))

    async def stream(
        self,
        ctx: WorkflowContext,
        *args: Any,
        on_chunk: ChunkHandler | None = None,
        stream_name: str | None = DEFAULT_STREAM,
        **kwargs: Any,
    ) -> DurableResponse:
        """Stream the model's answer inside one activity and record the final response.

        The text deltas are written to the instance's durable output stream ``stream_name`` (default
        ``"tokens"``; None: not written), where ``app.follow_stream`` and MCP clients (as progress) see
        them live. ``on_chunk`` receives each ``llm.AssistantContentChunk`` while the activity streams
        (sync or async). Both happen only live: never on replay, and again from the first chunk if the
        attempt is retried (the stream marks the abandoned attempt's chunks). The workflow gets the
        finished response, the same on every replay; its ``resume()`` streams the same way, and its
        ``text_stream()`` / ``streams()`` / ``structured_stream()`` replay the recorded content.
        """
        streaming = Streaming(stream_name, on_chunk)
        act = prompt_activity(self.spec, StreamOperation, self.messages, streaming=streaming)
        return build_response(ctx, self.spec, await budgeted_request(act, ctx, *args, **kwargs), streaming)

    async def agent(
        self,
        ctx: WorkflowContext,
        *args: Any,
        max_steps: int = DEFAULT_MAX_STEPS,
        parallel_tools: bool = True,
        stream_name: str | None = None,
        **kwargs: Any,
    ) -> AgentResult:
        """Make the call, then run the durable agent loop (tools, resume) until the model is done.

        See :func:`~durable_mirascope.run_agent` for ``max_steps`` and ``parallel_tools``. With
        ``stream_name`` every model request of the loop is streamed to that durable output stream.
        """
        if stream_name is not None:
            first = await self.stream(ctx, *args, stream_name=stream_name, **kwargs)
        else:
            first = await self(ctx, *args, **kwargs)
        return await run_agent(first, max_steps=max_steps, parallel_tools=parallel_tools)

    def __repr__(self) -> str:
        return f"<durable_call {self.spec.label} {self.spec.model_id}>"


def durable_call(
    model: str | llm.Model,
    *,
    tools: Sequence[Any] | None = None,
    format: Any = None,
    name: str | None = None,
    retry_policy: RetryPolicy | None = None,
    tool_retry_policy: RetryPolicy | None = None,
    timeout: float | None = None,
    rate_limit: str | None = None,
    **params: Any,
) -> Callable[[Callable[P, Any]], DurableCall[P]]:
    """Decorate a prompt function into a :class:`DurableCall` (``llm.call`` plus durability).

    Args:
        model: model id (``"provider/model"``) or an ``llm.Model``, as for ``llm.call``.
        tools: ``@llm.tool`` functions (sync or async) the model may call.
        format: structured-output format (a Pydantic model, primitive type, ``llm.format(...)`` or
            output parser), as for ``llm.call``.
        name: stable name for activity names (default: the function's name). Keep it stable across
            deploys: it is checked on replay.
        retry_policy: retries of each model request (default: the app's policy). Requests the provider
            rejects (bad request, authentication, permission, unknown model) are never retried.
        tool_retry_policy: retries of each tool activity (default: the app's policy).
        timeout: seconds one model request attempt may take.
        rate_limit: name of an ``EddaApp(rate_limits={...})`` limit every model request takes a grant of;
            over the limit the run waits durably (see ``docs/queues.md``).
        **params: model parameters (``temperature``, ``max_tokens``, ...), as for ``llm.call``.

    Raises:
        UnsupportedToolError: a context prompt or context tool (``llm.Context``) was given.
    """
    if isinstance(model, llm.Model) and params:
        raise TypeError("pass params either to llm.Model(...) or to durable_call, not both")

    def decorate(fn: Callable[P, Any]) -> DurableCall[P]:
        if isinstance(model, llm.Model):
            inner: Any = llm.call(model, tools=tools, format=format)(fn)
        else:
            inner = llm.call(model, tools=tools, format=format, **params)(fn)
        return DurableCall(
            inner,
            name=name,
            retry_policy=retry_policy,
            tool_retry_policy=tool_retry_policy,
            timeout=timeout,
            rate_limit=rate_limit,
        )

    return decorate


def durable(
    call: llm.Call[P, Any] | llm.AsyncCall[P, Any],
    *,
    name: str | None = None,
    retry_policy: RetryPolicy | None = None,
    tool_retry_policy: RetryPolicy | None = None,
    timeout: float | None = None,
) -> DurableCall[P]:
    """Make an existing ``@llm.call`` durable (same as decorating it with :func:`durable_call`)."""
    return DurableCall(
        call, name=name, retry_policy=retry_policy, tool_retry_policy=tool_retry_policy, timeout=timeout
    )
