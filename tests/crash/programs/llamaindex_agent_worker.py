"""Crash-test worker for a llama-index-core ``FunctionAgent``: ``python -m tests.crash.programs.llamaindex_agent_worker``.

Serves :data:`CATALOG` (one workflow, ``li_agent``) until SIGTERM or SIGKILL and prints ``ready <worker
id>`` once initialized. The agent's model is llama-index-core's ``MockFunctionCallingLLM`` scripted to
call the ``add`` tool once and then answer; every model request (``llm-<n>``) and every tool execution
(``tool-add``) appends a line to the side-effect log. With ``--pause-after llm-2`` the second model
request stalls the process, so the test can SIGKILL it in the middle of that request.

Options: ``--db URL --log PATH [--pause-after llm-N]...``
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import TextBlock, ToolCallBlock
from llama_index.core.llms import ChatMessage, MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool

from durable_core import Catalog, WorkflowContext, workflow
from durable_llamaindex import DurableLlamaWorkflow
from tests.crash.programs.llamaindex_worker import SETTINGS, _configure, effect
from tests.crash.programs.paused_worker import serve_main

CATALOG = Catalog()
#: how long a paused model request stalls (the test kills the process long before)
STALL_SECONDS = 600


def _instance_of(messages: Sequence[ChatMessage]) -> str:
    first_user = next(m for m in messages if m.role == "user")
    found = re.search(r"\[(?P<iid>[^\]]+)\]", first_user.content or "")
    assert found is not None, "the question carries the instance id in brackets"
    return found["iid"]


def scripted_model(messages: Sequence[ChatMessage], **_: Any) -> ChatMessage:
    """Request 1 calls ``add(2, 3)``; request 2 answers with the tool's result."""
    iid = _instance_of(messages)
    results = [m for m in messages if m.role == "tool"]
    label = f"llm-{len(results) + 1}"
    effect("start", iid, label)
    if label in SETTINGS.pause_after:
        time.sleep(STALL_SECONDS)  # blocks the whole process: it is SIGKILLed in this request
    effect("done", iid, label)
    if not results:
        call = ToolCallBlock(tool_call_id="call-1", tool_name="add", tool_kwargs={"a": 2, "b": 3})
        return ChatMessage(role="assistant", blocks=[TextBlock(text="let me add"), call])
    return ChatMessage(role="assistant", content=f"the sum is {results[-1].content}")


def add(a: int, b: int) -> int:
    """Add two numbers."""
    effect("start", "-", "tool-add")  # one instance per test: the label is enough
    effect("done", "-", "tool-add")
    return a + b


def make_agent() -> FunctionAgent:
    """A new agent per durable run, as DurableLlamaWorkflow's factory."""
    return FunctionAgent(
        tools=[FunctionTool.from_defaults(add)],
        llm=MockFunctionCallingLLM(response_generator=scripted_model),
    )


AGENT = DurableLlamaWorkflow(make_agent, name="li_agent")


@workflow(catalog=CATALOG)
async def li_agent(ctx: WorkflowContext, question: str) -> str:
    """Run the agent and say what type its result came back as."""
    output = await AGENT.run(ctx, user_msg=f"[{ctx.instance_id}] {question}")
    return f"{type(output).__name__}: {output.response.content}"


class NoHooks:
    """The agent's pauses happen inside the model request, not after a checkpoint."""


if __name__ == "__main__":
    serve_main("llamaindex-agent-crash-worker", CATALOG, NoHooks(), _configure)
