"""An LLM budget: a per-instance ceiling on tokens and cost, enforced before every model request.

The agent's scripted model keeps asking for the `search` tool and never finishes on its own; the budget
ends the run. Each request uses 1,000 input + 200 output tokens; with the prices below that is 0.0045
per request, so a cost budget of 0.01 allows two requests and the third, which crosses it, fails the
instance with `BudgetExceededError`. No fourth request is ever sent.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from durable_core import Budget, EddaApp, ModelPrice, WorkflowContext, WorkflowFailedError, workflow
from durable_pydantic_ai import EddaDurability

# model name -> price per token (any currency). FunctionModel names its responses "function:<fn>:";
# real models use their own names ("gpt-5-mini", "openai/gpt-5-mini", ...).
PRICES = {"function:researcher:": ModelPrice(input=0.000_002_5, output=0.000_010)}
sent = []


def researcher(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    sent.append(len(messages))
    call = ToolCallPart("search", {"query": f"edda {len(sent)}"})
    return ModelResponse(parts=[call], usage=RequestUsage(input_tokens=1_000, output_tokens=200))


agent = Agent(FunctionModel(researcher), name="researcher", capabilities=[EddaDurability()])


@agent.tool_plain
def search(query: str) -> str:
    """Search the web."""
    return f"nothing new about {query}"


@workflow
async def research(ctx: WorkflowContext, topic: str) -> str:
    return (await agent.run(f"Research {topic}")).output


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'budget.db'}", "research", workflows=[research]) as app:
            budget = Budget(tokens=100_000, cost=0.01, prices=PRICES, name="research-budget")
            iid = await research.with_options(budget=budget).start(topic="durable agents")
            try:
                await app.wait_result(iid, timeout=30)
            except WorkflowFailedError as failed:
                print("failed:", failed.__cause__)
            print("model requests sent:", len(sent))
            found = await app.get_usage(iid)
            print(
                f"usage: {found.usage.total_tokens} tokens, cost {found.usage.cost:.4f}, left {found.cost_left}"
            )


if __name__ == "__main__":
    asyncio.run(main())
