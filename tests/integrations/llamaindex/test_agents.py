"""llama-index-core agents on DurableLlamaWorkflow: resumable from every checkpoint, typed results,
checkpoints that grow with what a step changed, and a clear error for ``run(ctx=...)``.

The SIGKILL test of a ``FunctionAgent`` is in ``test_agent_crash.py``; here each agent kind is resumed
from every recorded checkpoint in turn, as a new worker would after a crash at that point.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from pydantic import BaseModel
from workflows import Context, Workflow, step
from workflows.events import StartEvent, StopEvent

from durable_core import Catalog, EddaApp, InstanceStatus, WorkflowContext, workflow
from durable_llamaindex import Checkpoint, DurableLlamaWorkflow, _delta, _memory
from durable_llamaindex.workflow import _MEMORY, _MemoryBlindSerializer, _Progress

pytest.importorskip("llama_index.core", reason="llama-index-core is in the dev extra")
# llama-index-workflows walks every attribute of a workflow (inspect.getmembers); on llama-index-core's
# pydantic agents that touches pydantic's deprecated attributes; ReActAgent calls a deprecated
# ``ctx.is_running`` (both upstream and harmless), only here
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:is_running called from within a step:DeprecationWarning"),
]

from llama_index.core.agent.workflow import AgentOutput, AgentWorkflow, FunctionAgent, ReActAgent  # noqa: E402
from llama_index.core.base.llms.types import TextBlock, ToolCallBlock  # noqa: E402
from llama_index.core.llms import ChatMessage, MockFunctionCallingLLM  # noqa: E402
from llama_index.core.tools import FunctionTool  # noqa: E402


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def function_calling_model(turns: int) -> MockFunctionCallingLLM:
    """Calls ``add`` ``turns`` times (with some text each turn), then answers."""

    def respond(messages: Sequence[ChatMessage], **_: Any) -> ChatMessage:
        done = sum(m.role == "tool" for m in messages)
        if done < turns:
            call = ToolCallBlock(
                tool_call_id=f"call-{done}", tool_name="add", tool_kwargs={"a": done, "b": 1}
            )
            return ChatMessage(role="assistant", blocks=[TextBlock(text="thinking " * 40), call])
        return ChatMessage(role="assistant", content=f"done after {done} tool calls")

    return MockFunctionCallingLLM(response_generator=respond)


def react_model(messages: Sequence[ChatMessage], **_: Any) -> ChatMessage:
    """ReAct text protocol: one ``add`` action, then the answer."""
    if not any("Observation" in (m.content or "") for m in messages if m.role != "system"):
        return ChatMessage(
            role="assistant",
            content='Thought: I need to add.\nAction: add\nAction Input: {"a": 2, "b": 3}',
        )
    return ChatMessage(role="assistant", content="Thought: I can answer now.\nAnswer: the sum is 5")


def function_agent(turns: int = 1) -> Callable[[], Workflow]:
    return lambda: FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=function_calling_model(turns))


def react_agent() -> Workflow:
    llm = MockFunctionCallingLLM(response_generator=react_model)
    return ReActAgent(tools=[FunctionTool.from_defaults(add)], llm=llm)


def agent_workflow() -> Workflow:
    agent = FunctionAgent(
        name="calculator",
        description="adds",
        tools=[FunctionTool.from_defaults(add)],
        llm=function_calling_model(1),
    )
    return AgentWorkflow(agents=[agent])


async def run_durably(
    db_url: str, factory: Callable[[], Workflow], question: str
) -> tuple[Any, list[Checkpoint], int]:
    """Run the agent in a durable workflow; return its result, checkpoints and recorded bytes."""
    durable = DurableLlamaWorkflow(factory, name="agent")
    catalog = Catalog()

    @workflow(catalog=catalog)
    async def ask(ctx: WorkflowContext, question: str) -> dict[str, Any]:
        output = await durable.run(ctx, user_msg=question)
        return {"type": type(output).__name__, "text": str(output.response.content)}

    async with EddaApp(db_url, workflows=list(catalog)) as app:
        iid = await ask.start(question=question)
        result = await app.wait_result(iid, timeout=60)
        entries = [e for e in await app.get_history(iid) if e.name.endswith(".step")]
    checkpoints = [Checkpoint.model_validate(e.result.json_value) for e in entries]
    size = sum(len(json.dumps(e.result.json_value)) for e in entries)
    return result, checkpoints, size


async def resume_from_each(
    factory: Callable[[], Workflow], checkpoints: list[Checkpoint]
) -> list[AgentOutput]:
    """What a new worker gets when it resumes the run from each STEP checkpoint."""
    progress = _Progress()
    outputs = []
    for checkpoint in checkpoints:
        if checkpoint.kind != "step":
            continue
        progress.take(checkpoint)
        flow = factory()
        snapshot = dict(progress.snapshot or {})
        resumed = Context.from_dict(flow, snapshot, serializer=_MemoryBlindSerializer())
        await _memory.restore(resumed, snapshot.pop(_MEMORY, None))
        outputs.append(await flow.run(ctx=resumed))
    return outputs


@pytest.mark.parametrize(
    ("factory", "answer"),
    [
        (function_agent(), "done after 1 tool calls"),
        (react_agent, "the sum is 5"),
        (agent_workflow, "done after 1 tool calls"),
    ],
    ids=["FunctionAgent", "ReActAgent", "AgentWorkflow"],
)
async def test_each_agent_kind_resumes_from_every_checkpoint_with_its_memory(
    tmp_path: Any, factory: Callable[[], Workflow], answer: str
) -> None:
    result, checkpoints, _ = await run_durably(f"sqlite:///{tmp_path / 'a.db'}", factory, "add 2 and 3")
    assert result == {"type": "AgentOutput", "text": answer}
    first = checkpoints[0].snapshot
    assert first is not None and first[_MEMORY]["messages"][0]["blocks"][0]["text"] == "add 2 and 3"
    outputs = await resume_from_each(factory, checkpoints)
    assert len(outputs) >= 5
    assert {(type(o).__name__, str(o.response.content)) for o in outputs} == {("AgentOutput", answer)}


async def test_checkpoints_grow_with_each_turn_not_with_the_conversation(tmp_path: Any) -> None:
    """Recorded bytes for 8 tool turns stay near twice those of 4 (a full snapshot per step: ~4x)."""
    _, short, short_size = await run_durably(f"sqlite:///{tmp_path / 's.db'}", function_agent(4), "go")
    _, long, long_size = await run_durably(f"sqlite:///{tmp_path / 'l.db'}", function_agent(8), "go")
    assert len(long) > 1.8 * len(short)
    assert long_size < 2.5 * short_size, (short_size, long_size)
    assert [c.snapshot is not None for c in long if c.kind == "step"][1:] == [False] * (len(long) - 2)


class Verdict(BaseModel):
    approved: bool
    reason: str


class VerdictFlow(Workflow):
    @step
    async def decide(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=Verdict(approved=ev.amount < 100, reason=f"amount {ev.amount}"))


async def test_a_stop_event_result_comes_back_as_its_own_type_on_replay_too(tmp_path: Any) -> None:
    durable = DurableLlamaWorkflow(lambda: VerdictFlow(timeout=None), name="verdict")
    catalog = Catalog()
    seen: list[Any] = []

    @workflow(catalog=catalog)
    async def judge(ctx: WorkflowContext, amount: int) -> bool:
        verdict = await durable.run(ctx, amount=amount)
        seen.append(verdict)
        ctx.now()  # a later step, so the instance is replayed below
        return bool(verdict.approved)

    async with EddaApp(f"sqlite:///{tmp_path / 'v.db'}", workflows=list(catalog)) as app:
        iid = await judge.start(amount=42)
        assert await app.wait_result(iid, timeout=20) is True
        assert (await app.replay_check())[0].ok
    assert seen and all(isinstance(v, Verdict) for v in seen)


async def test_passing_a_llamaindex_context_is_a_clear_terminal_error(tmp_path: Any) -> None:
    durable = DurableLlamaWorkflow(lambda: VerdictFlow(timeout=None), name="verdict")
    catalog = Catalog()

    @workflow(catalog=catalog)
    async def judge(ctx: WorkflowContext) -> Any:
        return await durable.run(ctx, ctx=Context(VerdictFlow()), amount=1)

    async with EddaApp(f"sqlite:///{tmp_path / 'c.db'}", workflows=list(catalog)) as app:
        iid = await judge.start()
        with pytest.raises(Exception, match=r"does not take a LlamaIndex Context \(run\(ctx=\.\.\.\)\)"):
            await app.wait_result(iid, timeout=20)
        record = await app.get_instance(iid)
    assert record.status is InstanceStatus.FAILED
    assert "ContextArgumentError" in (record.error.type_name if record.error else "")


def test_patches_rebuild_every_snapshot_exactly() -> None:
    rnd = random.Random(7)

    def value(depth: int = 0) -> Any:
        roll = rnd.random()
        if depth > 3 or roll < 0.3:
            return rnd.choice([1, True, None, 2.5, "x", "long " * rnd.randint(0, 30)])
        if roll < 0.6:
            return [value(depth + 1) for _ in range(rnd.randint(0, 4))]
        return {rnd.choice("abcde"): value(depth + 1) for _ in range(rnd.randint(0, 4))}

    def grow(old: Any) -> Any:
        if isinstance(old, dict):
            return {
                **{k: grow(v) if rnd.random() < 0.3 else v for k, v in old.items() if rnd.random() > 0.1},
                "n": value(),
            }
        if isinstance(old, list):
            return old[: rnd.randint(0, len(old))] + [value() for _ in range(rnd.randint(0, 2))]
        if isinstance(old, str):
            return old[: rnd.randint(0, len(old))] + "more " * rnd.randint(0, 20)
        return value()

    for _ in range(3000):
        before = value()
        after = grow(before)
        patch = json.loads(json.dumps(_delta.diff(before, after)))
        assert _delta.apply(before, patch) == after
