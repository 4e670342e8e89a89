"""LLM budgets with mirascope: the agent loop stops at the budget; usage is read from history."""

from __future__ import annotations

from typing import Any

import pytest
from mirascope import llm

from durable_core import (
    Budget,
    BudgetExceededError,
    Catalog,
    ModelPrice,
    WorkflowContext,
    WorkflowFailedError,
    workflow,
)
from durable_mirascope import durable_call
from durable_mirascope.testing import ScriptedRequest, reply, tool_call


async def test_budget_stops_the_agent_loop(make_app: Any, catalog: Catalog, scripted: Any) -> None:
    requests: list[int] = []

    def always_search(request: ScriptedRequest) -> Any:
        requests.append(1)
        return reply(tool_calls=[tool_call("search", query="x")], input_tokens=100, output_tokens=50)

    _provider, model_id = scripted(always_search)

    @llm.tool
    def search(query: str) -> str:
        """Search."""
        return "nothing"

    @durable_call(model_id, tools=[search])
    def research(topic: str) -> str:
        return f"Research {topic}."

    @workflow(catalog=catalog)
    async def researcher(ctx: WorkflowContext, topic: str) -> str:
        result = await research.agent(ctx, topic, max_steps=10)
        return str(result.response.text())

    app = await make_app()
    prices = {model_id: ModelPrice(input=0.01, output=0.02)}  # 2.0 per request
    budget = Budget(tokens=10_000, cost=5.0, prices=prices, name="research-budget")
    iid = await researcher.with_options(app=app, budget=budget).start(topic="edda")
    with pytest.raises(WorkflowFailedError, match="research-budget exceeded") as failed:
        await app.wait_result(iid, timeout=10)
    assert isinstance(failed.value.__cause__, BudgetExceededError)
    assert len(requests) == 3  # 2.0, 4.0, 6.0 > 5.0: no fourth request
    usage = await app.get_usage(iid)
    assert (usage.usage.requests, usage.usage.total_tokens) == (3, 450)
    assert usage.usage.cost == pytest.approx(6.0)
