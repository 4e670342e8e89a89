"""durable_pydantic_ai: ``agent.run_sync()`` / ``run_stream_sync()`` fail at once inside a workflow.

A workflow body is a coroutine on the engine's running event loop, so pydantic-ai's sync wrappers (which
drive a loop themselves) cannot work there. They must fail on the first try with a terminal error that
names the async call to use, without reaching the model; outside Edda they stay plain pydantic-ai.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from durable_core import EddaApp, StepKind, WorkflowFailedError
from durable_pydantic_ai import EddaDurability
from tests.integrations.pydantic_ai import agents

MISUSE = "durable_pydantic_ai.errors:AgentMisuseError"


async def _failure(app: EddaApp, iid: str) -> WorkflowFailedError:
    with pytest.raises(WorkflowFailedError) as failed:
        await app.wait_result(iid, timeout=30)
    return failed.value


@pytest.mark.parametrize(
    ("stream", "method", "instead"),
    [
        (False, "run_sync", "`result = await agent.run(...)`"),
        (True, "run_stream_sync", "`async with agent.run_stream(...) as result:`"),
    ],
)
async def test_a_sync_run_in_a_workflow_body_fails_at_once_and_says_what_to_use(
    make_app: Any, stream: bool, method: str, instead: str
) -> None:
    app: EddaApp = await make_app()
    iid = await app.start("sync_in_body", {"stream": stream})
    failed = await _failure(app, iid)
    assert failed.type_name == MISUSE
    assert f"agent.{method}() cannot be used inside an Edda workflow" in str(failed)
    assert f"Use {instead} instead" in str(failed)
    assert agents.CALLS == {"sync_body": 1}  # one run of the body, and no model request was made
    assert await app.get_history(iid) == []


async def test_run_sync_in_an_async_activity_is_terminal_not_retried(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await app.start("sync_in_activity", {})
    failed = await _failure(app, iid)
    assert failed.type_name == MISUSE
    assert "agent.run_sync() cannot be used inside an Edda activity" in str(failed)
    # the activity's policy allows 3 attempts; a misuse is terminal, so there was one, and no request
    assert agents.CALLS == {"sync_async_activity": 1}
    [step] = [e for e in await app.get_history(iid) if e.kind is StepKind.ACTIVITY]
    assert step.name.endswith("async_step_with_run_sync") and step.error is not None


def test_run_sync_outside_a_workflow_is_plain_pydantic_ai() -> None:
    agent = Agent(TestModel(custom_output_text="plain"), name="plain_sync", capabilities=[EddaDurability()])
    # pydantic-ai drives the thread's current loop (it would create one and leave it open otherwise)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert agent.run_sync("hi").output == "plain"
        with agent.run_stream_sync("hi") as streamed:
            assert streamed.get_output() == "plain"
    finally:
        asyncio.set_event_loop(None)
        loop.close()
