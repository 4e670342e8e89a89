"""Agents and workflows for the durable_pydantic_ai tests (scripted models, side-effect counters)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel
from pydantic_ai import Agent, ModelHTTPError, UserError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RequestUsage

from durable_core import Catalog, RetryPolicy, WorkflowContext, activity, wait_event, workflow
from durable_pydantic_ai import EddaDurability, approvals

CATALOG = Catalog()
#: side effects by label, counted live (never on replay)
CALLS: Counter[str] = Counter()
#: live stream events seen by the event stream handler, in order
STREAMED: list[str] = []
FAST = RetryPolicy(max_attempts=3, initial_interval=0.01, max_interval=0.01)


class City(BaseModel):
    name: str
    population: int


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Turn 1 asks for ``add(2, 3)``; turn 2 answers with the tool's result."""
    CALLS["model"] += 1
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart("add", {"a": 2, "b": 3}, tool_call_id="t1")])
    return ModelResponse(parts=[TextPart(f"sum is {messages[-1].parts[0].content}")])  # type: ignore[union-attr]


tool_agent = Agent(FunctionModel(scripted), name="tools", capabilities=[EddaDurability()])


@tool_agent.tool_plain
def add(a: int, b: int) -> int:
    """Add two numbers."""
    CALLS["add"] += 1
    return a + b


city_agent = Agent(
    TestModel(custom_output_args={"name": "Lyon", "population": 520_000}),
    name="cities",
    output_type=City,
    capabilities=[EddaDurability()],
)


@workflow(catalog=CATALOG)
async def tools_then_wait(ctx: WorkflowContext) -> dict[str, Any]:
    """Agent with a tool, structured output, then a durable wait (the resume replays the agent runs)."""
    answer = await tool_agent.run("add 2 and 3")
    city = await city_agent.run("a city")
    await wait_event(ctx, "go")
    return {"answer": answer.output, "city": city.output.model_dump(), "requests": answer.usage.requests}


async def record_stream(ctx: Any, events: Any) -> None:
    """Event stream handler: runs live inside the model-request activity."""
    async for event in events:
        delta = getattr(getattr(event, "delta", None), "content_delta", None)
        if delta:
            STREAMED.append(delta)


stream_agent = Agent(
    TestModel(custom_output_text="streamed tokens arrive"),
    name="streamer",
    capabilities=[EddaDurability(event_stream_handler=record_stream)],
)


@workflow(catalog=CATALOG)
async def stream_then_wait(ctx: WorkflowContext) -> dict[str, Any]:
    """``run_stream`` and ``iter`` inside a workflow, then a wait so the resume replays them."""
    async with stream_agent.run_stream("talk") as result:
        text = await result.get_output()
    nodes = []
    async with stream_agent.iter("again") as run:
        async for node in run:
            nodes.append(type(node).__name__)
    await wait_event(ctx, "go")
    return {"text": text, "nodes": nodes}


token_agent = Agent(
    TestModel(custom_output_text="tokens for every reader"),
    name="token_streamer",
    capabilities=[EddaDurability(stream_name="tokens")],
)


@workflow(catalog=CATALOG)
async def stream_to_readers(ctx: WorkflowContext) -> str:
    """``run_stream`` whose tokens also go to the instance's durable ``tokens`` stream."""
    async with token_agent.run_stream("talk") as result:
        return str(await result.get_output())


deleted: list[str] = []
approval_agent = Agent(
    TestModel(), name="janitor", capabilities=[EddaDurability(), approvals(name="approve_delete")]
)


@approval_agent.tool_plain(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file (needs a human's approval)."""
    CALLS["delete"] += 1
    deleted.append(path)
    return f"deleted {path}"


@workflow(catalog=CATALOG)
async def cleanup(ctx: WorkflowContext) -> str:
    """The tool needs approval: the run waits durably for ``approve_delete``."""
    result = await approval_agent.run("clean up")
    return result.output


def misuse(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A model body that raises pydantic-ai's UserError (misuse: never retried)."""
    CALLS["misuse"] += 1
    raise UserError("this model is configured wrongly")


def http_status(status: int) -> FunctionModel:
    """A model that always answers with HTTP ``status``."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        CALLS[f"http{status}"] += 1
        raise ModelHTTPError(status, "fake-model", {"error": "nope"})

    return FunctionModel(respond)


misuse_agent = Agent(
    FunctionModel(misuse), name="misuse", capabilities=[EddaDurability(model_activity={"retry_policy": FAST})]
)
rejected_agent = Agent(
    http_status(400), name="rejected", capabilities=[EddaDurability(model_activity={"retry_policy": FAST})]
)
throttled_agent = Agent(
    http_status(429), name="throttled", capabilities=[EddaDurability(model_activity={"retry_policy": FAST})]
)
FAILING = {"misuse": misuse_agent, "rejected": rejected_agent, "throttled": throttled_agent}


@workflow(catalog=CATALOG)
async def failing(ctx: WorkflowContext, which: str) -> str:
    """Run one of the failing agents."""
    return (await FAILING[which].run("hi")).output


def looping(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Calls ``add`` forever; every request reports 100 input + 50 output tokens."""
    CALLS["budget_model"] += 1
    return ModelResponse(
        parts=[ToolCallPart("add", {"a": 1, "b": 1}, tool_call_id=f"b{len(messages)}")],
        usage=RequestUsage(input_tokens=100, output_tokens=50),
    )


budget_agent = Agent(FunctionModel(looping), name="spender", capabilities=[EddaDurability()])
budget_agent.tool_plain(add)


@workflow(catalog=CATALOG)
async def spend(ctx: WorkflowContext, pause: bool) -> str:
    """Run the looping agent (it never stops on its own: only the budget ends it)."""
    if pause:
        await wait_event(ctx, "go")
    return (await budget_agent.run("loop")).output


@workflow(catalog=CATALOG)
async def spend_in_two_runs(ctx: WorkflowContext) -> str:
    """Two requests, a wait (the resume replays them), then an agent run that reaches the budget."""
    await one_request_agent.run("first")
    await one_request_agent.run("second")
    await wait_event(ctx, "go")
    return (await budget_agent.run("loop")).output


def one_answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Answers at once, using 150 tokens."""
    CALLS["budget_model"] += 1
    return ModelResponse(parts=[TextPart("ok")], usage=RequestUsage(input_tokens=100, output_tokens=50))


one_request_agent = Agent(FunctionModel(one_answer), name="once", capabilities=[EddaDurability()])


def two_turns(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Turn 1 calls ``ping``; turn 2 answers: two model requests per run."""
    CALLS["limited_model"] += 1
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart("ping", {}, tool_call_id="p1")])
    return ModelResponse(parts=[TextPart("pong received")])


limited_agent = Agent(
    FunctionModel(two_turns), name="limited", capabilities=[EddaDurability(rate_limit="llm")]
)


@limited_agent.tool_plain
def ping() -> str:
    """Answer pong."""
    CALLS["ping"] += 1
    return "pong"


@workflow(catalog=CATALOG)
async def rate_limited(ctx: WorkflowContext) -> str:
    """One agent run whose two model requests share a rate limit of the app."""
    result = await limited_agent.run("ping please")
    return result.output


def counted_answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Answers at once and counts the request (a refused sync run must never reach the model)."""
    CALLS["sync_model"] += 1
    return ModelResponse(parts=[TextPart("answered")])


sync_agent = Agent(FunctionModel(counted_answer), name="syncer", capabilities=[EddaDurability()])


@workflow(catalog=CATALOG)
async def sync_in_body(ctx: WorkflowContext, stream: bool) -> str:
    """Calls ``run_sync`` (or ``run_stream_sync``) in the workflow body: refused at once."""
    CALLS["sync_body"] += 1
    if stream:
        return str(sync_agent.run_stream_sync("hi").get_output())
    return sync_agent.run_sync("hi").output


@activity(retry_policy=FAST)
async def async_step_with_run_sync(ctx: WorkflowContext) -> str:
    """An async activity runs on the engine's loop too: ``run_sync`` is refused, not retried."""
    CALLS["sync_async_activity"] += 1
    return sync_agent.run_sync("hi").output


@workflow(catalog=CATALOG)
async def sync_in_activity(ctx: WorkflowContext) -> str:
    """Calls ``run_sync`` inside an async activity: refused."""
    return await async_step_with_run_sync(ctx)
