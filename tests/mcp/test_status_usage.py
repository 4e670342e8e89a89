"""The status tool reads an instance's history once per poll, and derives progress and usage from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from durable_core import Budget, Catalog, ModelPrice, WorkflowContext, activity, workflow
from edda_mcp.status import read_status

#: the storage methods that read an instance's history
HISTORY_READS = ("load_history", "get_progress", "get_entry")


@activity
async def model_request(ctx: WorkflowContext, prompt: str) -> dict[str, Any]:
    """Shaped like the integrations' recorded model requests (``usage`` and ``model_name``)."""
    return {"text": prompt, "model_name": "m-1", "usage": {"input_tokens": 100, "output_tokens": 40}}


@activity
async def plain(ctx: WorkflowContext) -> int:
    return 7


def count_history_reads(storage: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for name in HISTORY_READS:
        original: Callable[..., Awaitable[Any]] = getattr(storage, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(storage, name, spy)
    return calls


async def test_one_status_poll_reads_the_history_once(
    make_app: Any, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    @workflow(catalog=catalog)
    async def asks_twice(ctx: WorkflowContext) -> int:
        await model_request(ctx, "a")
        await plain(ctx)
        await model_request(ctx, "b")
        ctx.now()  # an internal value: not a step
        return 1

    app = await make_app()
    budget = Budget(tokens=1000, cost=10.0, prices={"m-1": ModelPrice(input=0.01, output=0.02)}, name="b1")
    iid = await asks_twice.with_options(app=app, budget=budget).start()
    await app.wait_result(iid, timeout=30)
    record = await app.get_instance(iid)
    expected_progress = await app.get_progress(iid)
    expected_usage = await app.get_usage(iid)

    reads = count_history_reads(app._storage, monkeypatch)
    status = await read_status(app, record)
    assert reads == ["load_history"], reads
    assert (
        (status.steps_completed, status.last_completed_step)
        == (
            expected_progress.steps_completed,
            expected_progress.last_completed_step,
        )
        == (3, "model_request")
    )
    assert status.usage is not None
    assert status.usage.model_dump() == {
        "requests": 2,
        "input_tokens": 200,
        "output_tokens": 80,
        "cost": pytest.approx(2 * (100 * 0.01 + 40 * 0.02)),
        "budget": "b1",
        "tokens_left": 1000 - 280,
        "cost_left": pytest.approx(10.0 - 3.6),
    }
    assert status.usage.cost == pytest.approx(expected_usage.usage.cost)
    assert status.usage.tokens_left == expected_usage.tokens_left


async def test_no_model_requests_and_no_budget_means_no_usage(
    make_app: Any, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    @workflow(catalog=catalog)
    async def plain_only(ctx: WorkflowContext) -> int:
        return await plain(ctx)

    app = await make_app()
    iid = await plain_only.start()
    await app.wait_result(iid, timeout=30)
    reads = count_history_reads(app._storage, monkeypatch)
    status = await read_status(app, await app.get_instance(iid))
    assert reads == ["load_history"]
    assert status.usage is None and status.steps_completed == 1 and status.last_completed_step == "plain"
