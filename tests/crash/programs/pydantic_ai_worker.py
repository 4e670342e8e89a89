"""Crash-test worker for durable_pydantic_ai: ``python -m tests.crash.programs.pydantic_ai_worker``.

Serves :data:`CATALOG`: one workflow running a pydantic-ai agent whose scripted model first asks for
the tool ``charge`` and then answers. Every model request (``model1``, ``model2``) and tool call
(``tool``) appends ``start``/``done`` lines to the side-effect log. With ``--pause-after LABEL`` that
request or tool stalls forever after its ``start`` line, so the test can SIGKILL the process while
it is in flight. Prints ``ready <worker id>`` once initialized.

Options: ``--db URL --log PATH [--pause-after LABEL]...``
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from durable_core import Catalog, RetryPolicy, WorkflowContext, current_context, workflow
from durable_pydantic_ai import EddaDurability
from tests.crash.programs.paused_worker import serve_main

CATALOG = Catalog()
LABELS = ("model1", "tool", "model2")


@dataclass
class Settings:
    """Per-process behaviour, set from the command line."""

    log_path: str = ""
    stall_in: frozenset[str] = frozenset()
    forever: asyncio.Event = field(default_factory=asyncio.Event)  # never set


SETTINGS = Settings()


def _instance_id() -> str:
    ctx = current_context()
    assert ctx is not None and ctx.in_activity, "model and tool bodies run inside activities"
    return ctx.instance_id


async def effect_around(label: str) -> None:
    """Log ``start``, stall if asked to, then log ``done`` (each line fsynced)."""
    iid = _instance_id()
    _append(f"start {iid} {label} {os.getpid()} 0\n")
    if label in SETTINGS.stall_in:
        await SETTINGS.forever.wait()
    _append(f"done {iid} {label} {os.getpid()} 0\n")


def _append(line: str) -> None:
    fd = os.open(SETTINGS.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


async def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Request 1 asks for ``charge(amount=7)``; request 2 answers with the tool's result."""
    if len(messages) == 1:
        await effect_around("model1")
        return ModelResponse(parts=[ToolCallPart("charge", {"amount": 7}, tool_call_id="c1")])
    await effect_around("model2")
    return ModelResponse(parts=[TextPart(f"charged, pid {os.getpid()}")])


agent = Agent(
    FunctionModel(scripted),
    name="crash_agent",
    capabilities=[
        EddaDurability(
            model_activity={"retry_policy": RetryPolicy(max_attempts=1)},
            tool_activity={"retry_policy": RetryPolicy(max_attempts=1)},
        )
    ],
)


@agent.tool_plain
async def charge(amount: int) -> str:
    """Charge ``amount`` (a side effect that must not repeat once recorded)."""
    await effect_around("tool")
    return f"receipt {amount} pid {os.getpid()}"


@workflow(catalog=CATALOG)
async def pay(ctx: WorkflowContext) -> str:
    """Run the agent once."""
    result = await agent.run("charge 7")
    return result.output


def _configure(log_path: str, stall_in: frozenset[str]) -> None:
    SETTINGS.log_path = log_path
    SETTINGS.stall_in = stall_in


if __name__ == "__main__":
    serve_main("pydantic-ai-crash-worker", CATALOG, None, _configure)
