"""``DurableResponse``: a real ``llm.AsyncResponse`` rebuilt from its recorded JSON, bound to the workflow.

Live runs and replays build the response the same way (from the record), so a workflow sees identical
objects either way. ``resume()``, ``validate()`` and ``execute_tools()`` stay durable: they record new
activities instead of calling the provider or tools directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from mirascope import llm
from mirascope.llm.formatting import Format, resolve_format

from durable_core import WorkflowContext
from durable_mirascope._ops import CallSpec, ResumeOperation, Streaming, budgeted_request, request_activity
from durable_mirascope.records import (
    FormatInfo,
    ResponseRecord,
    decode_assistant,
    decode_messages,
    decode_usage,
    encode_messages,
)
from durable_mirascope.replay_stream import replayed_stream
from durable_mirascope.tools import execute_tools


def _format(spec: Any, recorded: FormatInfo | None) -> Format[Any] | None:
    """Re-attach the format from code, in the mode the provider used when the response was recorded."""
    if spec is None:
        return None
    mode = recorded.mode if recorded is not None else "json"
    return resolve_format(spec, mode)


class DurableResponse(llm.AsyncResponse):  # type: ignore[misc]  # mirascope ships no type information
    """A model response recorded in workflow history.

    It is an ordinary ``llm.AsyncResponse`` (``text()``, ``parse()``, ``tool_calls``, ``usage``,
    ``messages``...). Its continuation methods are durable when called from the workflow body.

    Attributes:
        record: the JSON record this response was rebuilt from.
    """

    def __init__(
        self,
        record: ResponseRecord,
        *,
        ctx: WorkflowContext,
        spec: CallSpec,
        streaming: Streaming | None = None,
    ) -> None:
        super().__init__(
            raw=record.raw,
            provider_id=record.provider_id,
            model_id=record.model_id,
            provider_model_name=record.provider_model_name,
            params=dict(record.params),
            tools=spec.toolkit(),
            format=_format(spec.format, record.format),
            input_messages=decode_messages(record.input_messages),
            assistant_message=decode_assistant(record.assistant_message),
            finish_reason=None if record.finish_reason is None else llm.FinishReason(record.finish_reason),
            usage=decode_usage(record.usage),
        )
        self.record = record
        self._ctx = ctx
        self._spec = spec
        self._streaming = streaming

    @property
    def label(self) -> str:
        """Name of the call this response belongs to (used in activity names)."""
        return self._spec.label

    async def resume(self, content: llm.UserContent) -> DurableResponse:
        """Continue the conversation with ``content`` as one durable model request.

        Recorded as activity ``mirascope.resume:<label>``; uses this response's tools and format. A
        response of a streamed call resumes streamed too (to the same output stream and ``on_chunk``), so
        a streamed agent loop streams every turn.
        """
        messages = [*self.messages, llm.messages.user(content)]
        return await request_response(self._ctx, self._spec, messages, ResumeOperation, self._streaming)

    # -- mirascope's streaming idioms, over the recorded content (see replay_stream) -------------------
    def chunk_stream(self) -> AsyncIterator[llm.AssistantContentChunk]:
        """The recorded content as ``llm.AsyncStreamResponse.chunk_stream()`` would yield it."""
        return cast(AsyncIterator[llm.AssistantContentChunk], replayed_stream(self).chunk_stream())

    def streams(self) -> AsyncIterator[Any]:
        """One stream per recorded content part, as ``llm.AsyncStreamResponse.streams()``."""
        return cast(AsyncIterator[Any], replayed_stream(self).streams())

    def text_stream(self, sep: str = "\n") -> AsyncIterator[str]:
        """The recorded text, as ``llm.AsyncStreamResponse.text_stream()`` (joined: ``text(sep)`` + sep)."""
        return cast(AsyncIterator[str], replayed_stream(self).text_stream(sep))

    def pretty_stream(self) -> AsyncIterator[str]:
        """The recorded content as readable text deltas, as ``llm.AsyncStreamResponse.pretty_stream()``."""
        return cast(AsyncIterator[str], replayed_stream(self).pretty_stream())

    def structured_stream(self) -> AsyncIterator[Any]:
        """Partial structured outputs ending with the full one, as ``structured_stream()``."""
        return cast(AsyncIterator[Any], replayed_stream(self).structured_stream())

    async def execute_tools(self, *, parallel: bool = True) -> list[llm.ToolOutput[Any]]:
        """Run this response's tool calls, one activity per call (see :func:`execute_tools`)."""
        return await execute_tools(
            self._ctx,
            self.tool_calls,
            self._spec.tools,
            retry_policy=self._spec.tool_retry_policy,
            parallel=parallel,
        )


def build_response(
    ctx: WorkflowContext, spec: CallSpec, recorded: Any, streaming: Streaming | None = None
) -> DurableResponse:
    """Rebuild a :class:`DurableResponse` from an activity's recorded JSON."""
    return DurableResponse(ResponseRecord.from_json(recorded), ctx=ctx, spec=spec, streaming=streaming)


async def request_response(
    ctx: WorkflowContext,
    spec: CallSpec,
    messages: Sequence[llm.Message],
    operation: str,
    streaming: Streaming | None = None,
) -> DurableResponse:
    """Send ``messages`` as one durable model request (activity ``<operation>:<label>``).

    Streamed or not, the activity's name and arguments are the same, so the choice never changes history.
    """
    request = {**spec.describe(), "messages": encode_messages(messages)}
    recorded = await budgeted_request(request_activity(spec, operation, streaming), ctx, request)
    return build_response(ctx, spec, recorded, streaming)
