"""durable_pydantic_ai: agents with tools, structured output, streaming, approvals and misuse, in workflows.

Each workflow ends with a durable wait, so the resume after the event replays the agent runs from
history: the side-effect counters prove that no model request or tool call ran again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from durable_core import EddaApp, InstanceStatus, StepKind, SystemClock, WorkflowFailedError
from durable_pydantic_ai import AgentMisuseError, EddaDurability, ModelRequestError, ModelRequestRejectedError
from tests.integrations.pydantic_ai import agents
from tests.integrations.pydantic_graph.support import wait_status


async def activities(app: EddaApp, iid: str) -> list[str]:
    return [e.name for e in await app.get_history(iid) if e.kind is StepKind.ACTIVITY]


async def test_tools_and_structured_output_replay_without_rerunning(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await app.start("tools_then_wait", {})
    await wait_status(app, iid, InstanceStatus.WAITING)
    assert agents.CALLS == {"model": 2, "add": 1}
    await app.send_event("go", "test", {}, instance_id=iid)
    result = await app.wait_result(iid, timeout=10)
    assert result == {"answer": "sum is 5", "city": {"name": "Lyon", "population": 520_000}, "requests": 2}
    assert agents.CALLS == {"model": 2, "add": 1}  # the replay after the wait served everything from history
    assert await activities(app, iid) == [
        "tools__model.request",
        "tools__function_toolset__<agent>.call_tool:add",
        "tools__model.request",
        "cities__model.request",
    ]


async def test_run_stream_and_iter_stream_live_and_replay(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await app.start("stream_then_wait", {})
    await wait_status(app, iid, InstanceStatus.WAITING)
    live = list(agents.STREAMED)
    # token by token, inside the model-request activities (run_stream's and iter's)
    assert "".join(live) == "streamed tokens arrive" * 2 and len(live) > 2
    await app.send_event("go", "test", {}, instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == {
        "text": "streamed tokens arrive",
        "nodes": ["UserPromptNode", "ModelRequestNode", "CallToolsNode", "End"],
    }
    assert live == agents.STREAMED  # replay did not stream again
    assert await activities(app, iid) == ["streamer__model.request_stream"] * 2


async def test_run_stream_tokens_go_to_the_durable_output_stream(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await app.start("stream_to_readers", {})
    assert await app.wait_result(iid, timeout=10) == "tokens for every reader"
    page = await app.read_stream(iid, "tokens")
    texts = [chunk.data for chunk in page.chunks]
    assert "".join(texts) == "tokens for every reader" and len(texts) > 2  # token by token
    assert {chunk.status.value for chunk in page.chunks} == {"committed"}


async def test_approval_waits_durably_and_resumes_the_run(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await app.start("cleanup", {})
    await wait_status(app, iid, InstanceStatus.WAITING)
    wait = await app.get_wait(iid)
    assert wait is not None and wait.event_types == ("approve_delete",)
    schema: Any = wait.input_schemas["approve_delete"]
    pending = schema["$defs"]["PendingApprovals"]["properties"]
    (call_id,) = pending
    assert pending[call_id]["description"] == 'delete_file({"path": "a"})'
    assert agents.CALLS["delete"] == 0
    with pytest.raises(ValueError):  # the schema is enforced when the answer is sent
        await app.send_event("approve_delete", "test", {"approvals": {"other": True}}, instance_id=iid)
    await app.send_event("approve_delete", "human", {"approvals": {call_id: True}}, instance_id=iid)
    output = await app.wait_result(iid, timeout=10)
    assert "deleted a" in output
    assert agents.deleted == ["a"]
    names = await activities(app, iid)
    assert names.count("janitor__function_toolset__<agent>.call_tool:delete_file") == 1
    assert "janitor__external_event.approve_delete.ask" in names


async def test_denied_approval_tells_the_model_and_skips_the_tool(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await app.start("cleanup", {})
    await wait_status(app, iid, InstanceStatus.WAITING)
    wait = await app.get_wait(iid)
    assert wait is not None
    schema: Any = wait.input_schemas["approve_delete"]
    (call_id,) = schema["$defs"]["PendingApprovals"]["properties"]
    await app.send_event("approve_delete", "human", {"approvals": {call_id: False}}, instance_id=iid)
    await app.wait_result(iid, timeout=10)
    assert agents.deleted == []


@pytest.mark.parametrize(
    ("which", "error", "attempts"),
    [
        ("misuse", AgentMisuseError, 1),  # pydantic-ai UserError: terminal at once
        ("rejected", ModelRequestRejectedError, 1),  # HTTP 400: terminal at once
        ("throttled", ModelRequestError, 3),  # HTTP 429: retried by the policy
    ],
)
async def test_misuse_and_rejections_are_terminal_at_once(
    make_app: Any, which: str, error: type[Exception], attempts: int
) -> None:
    app: EddaApp = await make_app(clock=SystemClock())
    iid = await app.start("failing", {"which": which})
    with pytest.raises(WorkflowFailedError) as failed:
        await app.wait_result(iid, timeout=10)
    assert error.__name__ in str(failed.value)
    counter = "misuse" if which == "misuse" else {"rejected": "http400", "throttled": "http429"}[which]
    assert agents.CALLS[counter] == attempts


async def test_outside_a_workflow_the_agent_is_a_plain_agent() -> None:
    agent = Agent(TestModel(custom_output_text="plain"), name="plain", capabilities=[EddaDurability()])
    assert (await agent.run("hi")).output == "plain"


async def test_an_unnamed_agent_is_refused() -> None:
    with pytest.raises(Exception, match="unique `name`"):
        Agent(TestModel(), capabilities=[EddaDurability()])
    await asyncio.sleep(0)
