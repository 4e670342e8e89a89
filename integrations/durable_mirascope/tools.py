"""Durable tool execution: every tool call the model asks for is its own activity."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from mirascope import llm
from mirascope.llm.tools import BaseToolkit

from durable_core import RetryPolicy, WorkflowContext
from durable_mirascope._ops import check_tools, tool_activity
from durable_mirascope.records import decode_tool_output


async def execute_tools(
    ctx: WorkflowContext,
    tool_calls: Sequence[llm.ToolCall],
    tools: Sequence[Any] | BaseToolkit[Any],
    *,
    retry_policy: RetryPolicy | None = None,
    parallel: bool = True,
) -> list[llm.ToolOutput[Any]]:
    """Run each tool call as an activity named ``mirascope.tool:<tool name>``; outputs in call order.

    Call this from a workflow body. A recorded tool call is never executed again: its output is read
    from history. A tool that raises yields a ``ToolOutput`` with the error (as mirascope reports it to
    the model); a tool name the model invented yields a ``ToolNotFoundError`` output.

    Args:
        ctx: the workflow context.
        tool_calls: the calls, usually ``response.tool_calls``.
        tools: the tools that may be called (plain ``@llm.tool`` functions, sync or async, or a toolkit).
        retry_policy: retries of a tool activity that fails for reasons outside the tool (default: the
            app's policy).
        parallel: run the calls concurrently, as mirascope's own ``execute_tools()`` does (default);
            history positions are still taken in call order, so replay is deterministic either way.

    Returns:
        One ``llm.ToolOutput`` per call, ready for ``response.resume(outputs)``.
    """
    checked = check_tools(tools)

    def start(call: llm.ToolCall) -> Any:
        act = tool_activity(checked, call.name, retry_policy)
        return act(ctx, {"id": call.id, "name": call.name, "args": call.args})

    if parallel:
        results = await asyncio.gather(*(start(call) for call in tool_calls))
    else:
        results = [await start(call) for call in tool_calls]
    return [decode_tool_output(result) for result in results]
