"""``durable_call``: model requests and tool calls are activities, replayed into real mirascope objects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mirascope import llm
from pydantic import BaseModel

from durable_core import Catalog, FakeClock, InstanceStatus, WorkflowContext, sleep, workflow
from durable_mirascope import (
    AgentStepLimitError,
    DurableCall,
    DurableResponse,
    TokenUsage,
    UnsupportedToolError,
    durable,
    durable_call,
    instance_usage,
)
from durable_mirascope.testing import ScriptedRequest, reply, tool_call
from tests.integrations.mirascope.support import activity_names, history_json, wake


class Answer(BaseModel):
    summary: str
    sources: int


def _two_searches_then_answer() -> list[Any]:
    return [
        reply(
            "Let me search.",
            tool_calls=[tool_call("search", query="edda"), tool_call("search", query="mcp")],
            input_tokens=11,
            output_tokens=7,
        ),
        reply('{"summary": "durable agents", "sources": 2}', input_tokens=40, output_tokens=9),
    ]


async def test_call_tools_and_resume_replay_from_history(
    make_app, catalog: Catalog, clock: FakeClock, scripted
) -> None:
    """Each step runs once; every later run (after a timer) rebuilds the same real mirascope objects."""
    provider, model_id = scripted(_two_searches_then_answer())
    searched: list[str] = []
    seen: list[tuple[Any, ...]] = []

    @llm.tool
    def search(query: str) -> str:
        """Search the web."""
        searched.append(query)
        return f"results for {query}"

    @durable_call(model_id, tools=[search], format=Answer, temperature=0.2)
    def research(topic: str) -> str:
        return f"Research {topic} and answer as JSON."

    @workflow(catalog=catalog)
    async def researcher(ctx: WorkflowContext, topic: str) -> dict[str, Any]:
        first = await research(ctx, topic)
        assert isinstance(first, llm.AsyncResponse)
        assert type(first) is DurableResponse
        seen.append(("first", first.text(), [(c.id, c.name, c.args) for c in first.tool_calls]))
        await sleep(ctx, 60)
        outputs = await first.execute_tools()
        seen.append(("tools", [(o.id, o.name, o.result) for o in outputs]))
        await sleep(ctx, 60)
        final = await first.resume(outputs)
        answer = final.parse()
        assert isinstance(answer, Answer)
        seen.append(("final", answer, final.usage.input_tokens, len(final.messages)))
        return {"answer": answer.model_dump(), "tools": len(final.messages[2].content)}

    app = await make_app()
    iid = await researcher.start(topic="durable execution")
    await wake(app, clock, iid, 61)
    await wake(app, clock, iid, 61)
    result = await app.wait_result(iid, timeout=30)

    assert result == {"answer": {"summary": "durable agents", "sources": 2}, "tools": 2}
    assert len(provider.requests) == 2  # one model request per step, never repeated on replay
    assert sorted(searched) == ["edda", "mcp"]  # each tool call ran once (the two run concurrently)
    # Runs 1..3 saw identical first responses; runs 2..3 identical tool outputs.
    firsts = [s for s in seen if s[0] == "first"]
    assert len(firsts) == 3 and all(s == firsts[0] for s in firsts)
    assert firsts[0][2] == [
        ("call_0_0", "search", '{"query": "edda"}'),
        ("call_0_1", "search", '{"query": "mcp"}'),
    ]
    tools = [s for s in seen if s[0] == "tools"]
    assert len(tools) == 2 and tools[0] == tools[1]
    assert tools[0][1] == [
        ("call_0_0", "search", "results for edda"),
        ("call_0_1", "search", "results for mcp"),
    ]
    # The resumed request carried the whole conversation: user, assistant (tool calls), tool outputs.
    last = provider.requests[-1]
    assert [type(m).__name__ for m in last.messages] == ["UserMessage", "AssistantMessage", "UserMessage"]
    assert last.tool_names == ("search",) and last.format_name == "Answer"
    assert last.params == {"temperature": 0.2}
    assert await activity_names(app, iid) == [
        "mirascope.call:research",
        "mirascope.tool:search",
        "mirascope.tool:search",
        "mirascope.resume:research",
    ]
    reports = await app.replay_check(limit=1)
    assert [(r.instance_id, r.ok) for r in reports] == [(iid, True)], reports
    assert len(provider.requests) == 2


async def test_agent_loop_sums_usage_per_call_and_per_instance(make_app, catalog: Catalog, scripted) -> None:
    provider, model_id = scripted(_two_searches_then_answer())

    @llm.tool
    async def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    @durable_call(model_id, tools=[search], format=Answer)
    async def research(topic: str) -> str:
        return f"Research {topic}."

    @workflow(catalog=catalog)
    async def agent(ctx: WorkflowContext, topic: str) -> dict[str, Any]:
        result = await research.agent(ctx, topic, max_steps=3)
        return {
            "answer": result.response.parse().model_dump(),
            "steps": result.steps,
            "tool_calls": result.tool_calls,
            "usage": [result.usage.requests, result.usage.input_tokens, result.usage.output_tokens],
        }

    app = await make_app()
    iid = await agent.start(topic="edda")
    result = await app.wait_result(iid, timeout=30)
    assert result == {
        "answer": {"summary": "durable agents", "sources": 2},
        "steps": 2,
        "tool_calls": 2,
        "usage": [2, 51, 16],
    }
    assert await instance_usage(app, iid) == TokenUsage(requests=2, input_tokens=51, output_tokens=16)
    assert TokenUsage(requests=2, input_tokens=51, output_tokens=16).total_tokens == 67
    assert len(provider.requests) == 2


async def test_step_limit_fails_the_workflow(make_app, catalog: Catalog, scripted) -> None:
    def always_search(request: ScriptedRequest) -> Any:
        return reply(tool_calls=[tool_call("search", query=f"q{request.turn}")])

    provider, model_id = scripted(always_search)

    @llm.tool
    def search(query: str) -> str:
        """Search."""
        return query

    @durable_call(model_id, tools=[search])
    def loop(topic: str) -> str:
        return topic

    @workflow(catalog=catalog)
    async def looping(ctx: WorkflowContext) -> str:
        result = await loop.agent(ctx, "x", max_steps=3)
        return str(result.response.text())

    app = await make_app()
    iid = await looping.start()
    with pytest.raises(Exception, match="max_steps=3"):
        await app.wait_result(iid, timeout=30)
    record = await app.get_instance(iid)
    assert record.status is InstanceStatus.FAILED
    assert record.error is not None and record.error.type_name.endswith(":AgentStepLimitError")
    assert len(provider.requests) == 3
    assert await activity_names(app, iid) == [
        "mirascope.call:loop",
        "mirascope.tool:search",
        "mirascope.resume:loop",
        "mirascope.tool:search",
        "mirascope.resume:loop",
    ]
    assert issubclass(AgentStepLimitError, Exception)


async def test_stream_records_the_final_response(
    make_app, catalog: Catalog, clock: FakeClock, scripted
) -> None:
    provider, model_id = scripted(
        [reply("durable streams are recorded once", input_tokens=3, output_tokens=6)]
    )
    deltas: list[str] = []
    texts: list[str] = []

    def show(chunk: llm.AssistantContentChunk) -> None:
        if chunk.type == "text_chunk":
            deltas.append(chunk.delta)

    @durable_call(model_id)
    def tell(topic: str) -> str:
        return f"Tell me about {topic}"

    @workflow(catalog=catalog)
    async def teller(ctx: WorkflowContext) -> list[Any]:
        response = await tell.stream(ctx, "streams", on_chunk=show)
        texts.append(response.text())
        await sleep(ctx, 5)
        return [response.text(), response.usage.output_tokens, response.model_id]

    app = await make_app()
    iid = await teller.start()
    await wake(app, clock, iid, 6)
    assert await app.wait_result(iid, timeout=30) == ["durable streams are recorded once", 6, model_id]
    assert "".join(deltas) == "durable streams are recorded once"  # chunks reached the handler live...
    assert len(deltas) == 5  # ...once: the replay after the timer did not stream again
    assert texts == ["durable streams are recorded once"] * 2
    assert [r.streamed for r in provider.requests] == [True]
    assert await activity_names(app, iid) == ["mirascope.stream:tell"]
    assert await instance_usage(app, iid) == TokenUsage(requests=1, input_tokens=3, output_tokens=6)


async def test_validate_retries_parsing_through_a_durable_resume(
    make_app, catalog: Catalog, scripted
) -> None:
    provider, model_id = scripted([reply("not json"), reply('{"summary": "fixed", "sources": 1}')])

    @durable_call(model_id, format=Answer)
    def summarize(text: str) -> str:
        return f"Summarize: {text}"

    @workflow(catalog=catalog)
    async def summarizer(ctx: WorkflowContext) -> dict[str, Any]:
        response = await summarize(ctx, "edda")
        answer, final = await response.validate(max_retries=1)
        return {"answer": answer.model_dump(), "retry_prompt": final.messages[-2].content[0].text}

    app = await make_app()
    iid = await summarizer.start()
    result = await app.wait_result(iid, timeout=30)
    assert result["answer"] == {"summary": "fixed", "sources": 1}
    assert result["retry_prompt"].startswith("Your response could not be parsed")
    assert await activity_names(app, iid) == ["mirascope.call:summarize", "mirascope.resume:summarize"]
    assert len(provider.requests) == 2


async def test_tool_errors_are_recorded_and_rebuilt(
    make_app, catalog: Catalog, clock: FakeClock, scripted
) -> None:
    provider, model_id = scripted(
        [
            reply(tool_calls=[tool_call("explode"), tool_call("invented", x=1)]),
            reply("I could not use the tools."),
        ]
    )
    runs: list[str] = []
    errors: list[tuple[str, str]] = []

    @llm.tool
    def explode() -> str:
        """Always fails."""
        runs.append("explode")
        raise RuntimeError("disk on fire")

    @durable_call(model_id, tools=[explode])
    def ask() -> str:
        return "Use your tools."

    @workflow(catalog=catalog)
    async def asker(ctx: WorkflowContext) -> str:
        first = await ask(ctx)
        outputs = await first.execute_tools()
        errors.extend((type(o.error).__name__, str(o.result)) for o in outputs)
        await sleep(ctx, 5)
        return str((await first.resume(outputs)).text())

    app = await make_app()
    iid = await asker.start()
    await wake(app, clock, iid, 6)
    assert await app.wait_result(iid, timeout=30) == "I could not use the tools."
    assert runs == ["explode"]
    expected = [
        ("ToolExecutionError", "disk on fire"),
        ("ToolNotFoundError", "Tool 'invented' not found in registry"),
    ]
    assert errors[:2] == errors[2:]
    assert [e[0] for e in errors[:2]] == [e[0] for e in expected]
    assert errors[0][1] == "disk on fire" and "invented" in errors[1][1]
    tool_outputs = provider.requests[-1].messages[-1].content
    assert tool_outputs[0].result == "disk on fire"


async def test_code_objects_are_never_recorded(make_app, catalog: Catalog, scripted) -> None:
    _, model_id = scripted(_two_searches_then_answer())

    @llm.tool
    def search(query: str) -> str:
        """Search."""
        return query

    @durable_call(model_id, tools=[search], format=Answer)
    def research(topic: str) -> str:
        return topic

    @workflow(catalog=catalog)
    async def researcher(ctx: WorkflowContext) -> str:
        return str((await research.agent(ctx, "t")).response.parse().summary)

    app = await make_app()
    iid = await researcher.start()
    assert await app.wait_result(iid, timeout=30) == "durable agents"
    recorded = await history_json(app, iid)
    for leaked in ("<function", "<class", "object at 0x", "Answer'>", "formattable"):
        assert leaked not in recorded
    results = [e.result.json_value for e in await app.get_history(iid)]
    formats = [r["format"] for r in results if isinstance(r, dict) and "format" in r]
    assert formats == [{"name": "Answer", "mode": "json"}] * 2


async def test_durable_wraps_an_existing_llm_call_and_rejects_context_calls(scripted) -> None:
    _, model_id = scripted([reply("hi")])

    @llm.call(model_id, temperature=0.5)
    def greet(name: str) -> str:
        return f"Greet {name}"

    wrapped: DurableCall[Any] = durable(greet, name="greeting")
    assert wrapped.name == "greeting" and wrapped.spec.params == {"temperature": 0.5}
    assert [m.content[0].text for m in await wrapped.messages("Ada")] == ["Greet Ada"]

    @llm.call(model_id)
    def with_deps(ctx: llm.Context[str], name: str) -> str:
        return f"{ctx.deps} {name}"

    with pytest.raises(UnsupportedToolError, match=r"no llm\.Context"):
        durable(with_deps)

    @llm.tool
    def needs_ctx(ctx: llm.Context[str]) -> str:
        """Context tool."""
        return str(ctx.deps)

    with pytest.raises(UnsupportedToolError, match=r"takes an llm\.Context"):
        durable_call(model_id, tools=[needs_ctx])(lambda: "x")
    with pytest.raises(TypeError, match="not both"):
        durable_call(llm.Model(model_id), temperature=0.1)(lambda: "x")


async def test_a_with_llm_model_override_is_refused_at_once_not_ignored(
    make_app, catalog: Catalog, scripted
) -> None:
    _provider, model_id = scripted([reply("hello")])

    @durable_call(model_id)
    def greet(name: str) -> str:
        return f"Greet {name}."

    @workflow(catalog=catalog)
    async def overridden(ctx: WorkflowContext) -> str:
        with llm.model("anthropic/claude-sonnet-4-5"):
            response = await greet(ctx, "ada")
        return str(response.text())

    @workflow(catalog=catalog)
    async def same_model(ctx: WorkflowContext) -> str:
        with llm.model(model_id):  # the call's own model: nothing is overridden
            response = await greet(ctx, "bob")
        return str(response.text())

    app = await make_app()
    iid = await overridden.start()
    with pytest.raises(Exception, match=r"ModelOverrideError.*override is active"):
        await app.wait_result(iid, timeout=10)
    record = await app.get_instance(iid)
    assert record.status is InstanceStatus.FAILED and await app.get_history(iid) == []  # nothing was sent
    assert await app.wait_result(await same_model.start(), timeout=10) == "hello"


async def test_the_tool_calls_of_one_turn_run_concurrently_by_default(
    make_app, catalog: Catalog, scripted
) -> None:
    """Two calls of a tool that waits for its sibling: only concurrent execution lets both finish."""
    _provider, model_id = scripted(
        [
            reply("Meeting.", tool_calls=[tool_call("meet", who="a"), tool_call("meet", who="b")]),
            reply("both met"),
        ]
    )
    both = asyncio.Barrier(2)
    met: list[str] = []

    @llm.tool
    async def meet(who: str) -> str:
        """Wait until the other caller arrives."""
        await asyncio.wait_for(both.wait(), timeout=5)  # one after the other: times out
        met.append(who)
        return f"{who} met"

    @durable_call(model_id, tools=[meet])
    def gather_people() -> str:
        return "Meet everyone."

    @workflow(catalog=catalog)
    async def meeting(ctx: WorkflowContext) -> str:
        result = await gather_people.agent(ctx)
        return str(result.response.text())

    app = await make_app()
    assert await app.wait_result(await meeting.start(), timeout=30) == "both met"
    assert sorted(met) == ["a", "b"]
