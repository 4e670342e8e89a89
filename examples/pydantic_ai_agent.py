"""A durable pydantic-ai agent: every model request and tool call is a recorded activity.

The model is a scripted `FunctionModel`, so this runs offline; use any pydantic-ai model instead
(`Agent("openai:gpt-5-mini", ...)`). The workflow waits for an event between two agent runs: when it
resumes it replays the first run from history, so nothing is sent to the model or the tool again.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from durable_core import EddaApp, StepKind, WorkflowContext, wait_event, workflow
from durable_pydantic_ai import EddaDurability

calls = {"model": 0, "weather": 0}


class Forecast(BaseModel):
    city: str
    summary: str


def weather_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Scripted model: call the tool, then give the structured answer (through the output tool)."""
    calls["model"] += 1
    usage = RequestUsage(input_tokens=120, output_tokens=30)
    returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returns:
        return ModelResponse(parts=[ToolCallPart("weather", {"city": "Lyon"})], usage=usage)
    answer = {"city": "Lyon", "summary": str(returns[-1].content)}
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, answer)], usage=usage)


agent = Agent(
    FunctionModel(weather_model),
    name="forecaster",  # stable: it is part of every activity name
    output_type=Forecast,
    capabilities=[EddaDurability()],
)


@agent.tool_plain
def weather(city: str) -> str:
    """Today's weather in a city."""
    calls["weather"] += 1
    return f"sunny in {city}, 24 C"


@workflow
async def plan_trip(ctx: WorkflowContext, city: str) -> str:
    forecast = await agent.run(f"What is the weather in {city}?")
    await wait_event(ctx, "go")  # the resume after this replays the agent run from history
    return f"{forecast.output.city}: {forecast.output.summary}"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'trips.db'}", "trips", workflows=[plan_trip]) as app:
            iid = await plan_trip.start(city="Lyon")
            for _ in range(600):  # until the run parks in its wait (at most 30 s)
                if await app.get_wait(iid) is not None:
                    break
                await asyncio.sleep(0.05)
            await app.send_event("go", "example", {}, instance_id=iid)
            print("result:", await app.wait_result(iid, timeout=30))
            print("model requests sent:", calls["model"], "| tool calls made:", calls["weather"])
            for entry in await app.get_history(iid):
                if entry.kind is StepKind.ACTIVITY:
                    print(f"  {entry.position}: {entry.name}")
            usage = (await app.get_usage(iid)).usage
            print(f"usage: {usage.requests} requests, {usage.total_tokens} tokens")


if __name__ == "__main__":
    asyncio.run(main())
