"""LLM budgets with pydantic-ai: no request once spent, BudgetExceededError, replay-safe usage, status."""

from __future__ import annotations

from typing import Any

import pytest

from durable_core import (
    Budget,
    BudgetExceededError,
    EddaApp,
    InstanceStatus,
    ModelPrice,
    WorkflowFailedError,
)
from tests.integrations.pydantic_ai import agents
from tests.integrations.pydantic_graph.support import wait_status

# FunctionModel names its responses "function:<fn>:"; 0.2 per request of 100 + 50 tokens
PRICES = {"function:looping:": ModelPrice(input=0.001, output=0.002)}


async def test_token_budget_stops_the_agent(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await agents.spend.with_options(app=app, budget=Budget(tokens=400, name="tokens-400")).start(
        pause=False
    )
    with pytest.raises(WorkflowFailedError) as failed:
        await app.wait_result(iid, timeout=10)
    assert isinstance(failed.value.__cause__, BudgetExceededError)
    assert "tokens-400 exceeded" in str(failed.value) and "450 of 400 tokens" in str(failed.value)
    assert agents.CALLS["budget_model"] == 3  # 150 + 150 + 150: the third crossed it, no fourth was sent
    usage = await app.get_usage(iid)
    assert (usage.usage.requests, usage.usage.total_tokens, usage.tokens_left) == (3, 450, 0)


async def test_cost_budget_uses_the_stored_prices(make_app: Any) -> None:
    app: EddaApp = await make_app()
    budget = Budget(cost=0.5, prices=PRICES, name="half-a-euro")
    iid = await agents.spend.with_options(app=app, budget=budget).start(pause=False)
    with pytest.raises(WorkflowFailedError, match="half-a-euro exceeded"):
        await app.wait_result(iid, timeout=10)
    assert agents.CALLS["budget_model"] == 3  # 0.2, 0.4, 0.6 > 0.5
    usage = await app.get_usage(iid)
    assert usage.usage.cost == pytest.approx(0.6) and usage.cost_left == 0.0


async def test_usage_is_rebuilt_from_history_on_replay_not_doubled(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await agents.spend_in_two_runs.with_options(app=app, budget=Budget(tokens=400)).start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    assert agents.CALLS["budget_model"] == 2
    assert (await app.get_usage(iid)).usage.total_tokens == 300
    await app.send_event("go", "test", {}, instance_id=iid)
    with pytest.raises(WorkflowFailedError, match="budget exceeded"):
        await app.wait_result(iid, timeout=10)
    # the replay counted the two recorded requests once (300 < 400), so a third one was sent (450)
    assert agents.CALLS["budget_model"] == 3


async def test_a_spent_budget_sends_nothing(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await agents.spend.with_options(app=app, budget=Budget(tokens=150)).start(pause=False)
    with pytest.raises(WorkflowFailedError, match="budget spent"):
        await app.wait_result(iid, timeout=10)
    assert agents.CALLS["budget_model"] == 1  # exactly at the limit: the next request is never sent


async def test_no_budget_no_limit_and_usage_still_reported(make_app: Any) -> None:
    app: EddaApp = await make_app()
    iid = await agents.spend_in_two_runs.with_options(app=app).start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    usage = await app.get_usage(iid)
    assert usage.budget is None and usage.usage.requests == 2 and usage.tokens_left is None


def test_budget_validation() -> None:
    from durable_core import ConfigurationError

    with pytest.raises(ConfigurationError, match="tokens=, cost="):
        Budget()
    with pytest.raises(ConfigurationError, match="needs prices"):
        Budget(cost=1.0)
    with pytest.raises(ConfigurationError, match="> 0"):
        Budget(tokens=0)


async def test_the_console_shows_usage_against_the_budget(make_app: Any) -> None:
    import httpx

    from edda_mcp.console import console_app

    app: EddaApp = await make_app()
    iid = await agents.spend.with_options(app=app, budget=Budget(tokens=400, name="tokens-400")).start(
        pause=False
    )
    with pytest.raises(WorkflowFailedError):
        await app.wait_result(iid, timeout=10)
    console = console_app(app, read_only=True)
    transport = httpx.ASGITransport(app=console)
    async with (
        console.router.lifespan_context(console),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client,
    ):
        page = await client.get(f"/instances/{iid}")
    assert page.status_code == 200
    assert "3 model request(s)" in page.text and "Budget tokens-400" in page.text
    assert "400 tokens (0 left)" in page.text
