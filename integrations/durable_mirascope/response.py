"""``DurableResponse``: a real ``llm.AsyncResponse`` rebuilt from its recorded JSON, bound to the workflow.

Live runs and replays build the response the same way (from the record), so a workflow sees identical
objects either way. ``resume()``, ``validate()`` and ``execute_tools()`` stay durable: they record new
activities instead of calling the provider or tools directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mirascope import llm
from mirascope.llm.formatting import Format, resolve_format

from durable_core import WorkflowContext
from durable_mirascope._ops import CallSpec, ResumeOperation, budgeted_request, request_activity
from durable_mirascope.records import (
    FormatInfo,
    ResponseRecord,
    decode_assistant,
    decode_messages,
    decode_usage,
    encode_messages,
)
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

    def __init__(self, record: ResponseRecord, *, ctx: WorkflowContext, spec: CallSpec) -> None:
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

    @property
    def label(self) -> str:
        """Name of the call this response belongs to (used in activity names)."""
        return self._spec.label

    async def resume(self, content: llm.UserContent) -> DurableResponse:
        """Continue the conversation with ``content`` as one durable model request.

        Recorded as activity ``mirascope.resume:<label>``; uses this response's tools and format.
        """
        messages = [*self.messages, llm.messages.user(content)]
        return await request_response(self._ctx, self._spec, messages, ResumeOperation)

    async def execute_tools(self, *, parallel: bool = False) -> list[llm.ToolOutput[Any]]:
        """Run this response's tool calls, one activity per call (see :func:`execute_tools`)."""
        return await execute_tools(
            self._ctx,
            self.tool_calls,
            self._spec.tools,
            retry_policy=self._spec.tool_retry_policy,
            parallel=parallel,
        )


def build_response(ctx: WorkflowContext, spec: CallSpec, recorded: Any) -> DurableResponse:
    """Rebuild a :class:`DurableResponse` from an activity's recorded JSON."""
    return DurableResponse(ResponseRecord.from_json(recorded), ctx=ctx, spec=spec)


async def request_response(
    ctx: WorkflowContext, spec: CallSpec, messages: Sequence[llm.Message], operation: str
) -> DurableResponse:
    """Send ``messages`` as one durable model request (activity ``<operation>:<label>``)."""
    request = {**spec.describe(), "messages": encode_messages(messages)}
    recorded = await budgeted_request(request_activity(spec, operation), ctx, request)
    return build_response(ctx, spec, recorded)
