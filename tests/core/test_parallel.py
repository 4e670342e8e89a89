"""``ctx.parallel``: concurrent branches of several activities each, replayed in their recorded order.

Each test records a first run, parks the instance on a timer after the branches, and advances the fake
clock so that a second run replays the whole body (on every backend). Completion order in the first run
is forced with events; on replay every recorded outcome comes back at once, in position order.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from durable_core import (
    Catalog,
    FakeClock,
    InstanceStatus,
    RetryPolicy,
    StepKind,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    sleep,
    workflow,
)
from tests.integrations.pydantic_graph.support import wait_status

EVENT_TIMEOUT = 30.0  # generous: only reached when the branches do not overlap (the old behaviour)
ONCE = RetryPolicy(max_attempts=1)


async def test_branches_overlap_and_replay_whatever_the_completion_order(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    runs: Counter[str] = Counter()
    b1_done = asyncio.Event()

    @activity
    async def step(ctx: WorkflowContext, branch: str, n: int, value: int) -> int:
        runs[f"{branch}{n}"] += 1
        if (branch, n) == ("a", 1):
            # a1 ends only after b1 has run to its end: one at a time, this would time out
            await asyncio.wait_for(b1_done.wait(), EVENT_TIMEOUT)
        if (branch, n) == ("b", 1):
            b1_done.set()
        return value * 10 + n

    async def branch(ctx: WorkflowContext, name: str, seed: int) -> int:
        value = seed
        for n in (1, 2, 3):
            value = await step(ctx, name, n, value)
        return value

    @workflow(catalog=catalog)
    async def fan(ctx: WorkflowContext) -> list[int]:
        results = await ctx.parallel(branch(ctx, "a", 1), branch(ctx, "b", 2))
        await sleep(ctx, 10)
        return results

    app = await make_app(clock=clock)
    iid = await fan.start()
    await wait_status(app, iid, InstanceStatus.WAITING, timeout=EVENT_TIMEOUT)
    first = await app.get_history(iid)
    assert sorted(e.name for e in first if e.kind is StepKind.ACTIVITY) == ["step"] * 6
    clock.advance(11)
    assert await app.wait_result(iid, timeout=EVENT_TIMEOUT) == [1123, 2123]
    assert runs == Counter({"a1": 1, "a2": 1, "a3": 1, "b1": 1, "b2": 1, "b3": 1})  # nothing ran twice
    history = await app.get_history(iid)
    assert [(e.position, e.args_hash) for e in history[: len(first)]] == [
        (e.position, e.args_hash) for e in first
    ]
    reports = await app.replay_check(limit=1)
    assert [r.ok for r in reports] == [True], reports


async def test_code_changed_in_a_branch_blocks_with_nondeterminism_error(make_app, catalog: Catalog) -> None:
    clock = FakeClock()
    version = {"b": 1}

    @activity
    async def step(ctx: WorkflowContext, label: str) -> str:
        return label

    async def branch(ctx: WorkflowContext, name: str) -> str:
        first = await step(ctx, f"{name}-1")
        return first + await step(ctx, f"{name}-2-v{version.get(name, 1)}")

    @workflow(catalog=catalog)
    async def fan(ctx: WorkflowContext) -> list[str]:
        results = await ctx.parallel(branch(ctx, "a"), branch(ctx, "b"))
        await sleep(ctx, 10)
        return results

    app = await make_app(clock=clock)
    iid = await fan.start()
    await wait_status(app, iid, InstanceStatus.WAITING, timeout=EVENT_TIMEOUT)
    version["b"] = 2  # "deploy" other code: branch b now asks for another second step
    clock.advance(11)
    await wait_status(app, iid, InstanceStatus.BLOCKED, timeout=EVENT_TIMEOUT)
    record = await app.get_instance(iid)
    assert record.blocked_reason is not None
    assert "at history position" in record.blocked_reason and "step" in record.blocked_reason


async def test_a_failed_branch_cancels_its_sibling_and_later_positions_line_up(
    make_app, catalog: Catalog
) -> None:
    clock = FakeClock()
    runs: Counter[str] = Counter()
    slow_started = asyncio.Event()

    @activity(retry_policy=ONCE)
    async def fail(ctx: WorkflowContext) -> None:
        runs["fail"] += 1
        await asyncio.wait_for(slow_started.wait(), EVENT_TIMEOUT)
        raise TerminalError("card declined")

    @activity(retry_policy=ONCE)
    async def slow(ctx: WorkflowContext) -> None:
        runs["slow"] += 1
        slow_started.set()
        await asyncio.Event().wait()  # until cancelled by the failed sibling

    @activity
    async def after(ctx: WorkflowContext, message: str) -> str:
        runs["after"] += 1
        return message

    async def run(ctx: WorkflowContext, act: Any) -> None:
        await act(ctx)  # created inside the branch: takes its position when it runs

    @workflow(catalog=catalog)
    async def fan(ctx: WorkflowContext) -> str:
        try:
            await ctx.parallel(run(ctx, fail), run(ctx, slow))
        except TerminalError as exc:
            message = await after(ctx, str(exc))
        await sleep(ctx, 10)
        return message

    app = await make_app(clock=clock)
    iid = await fan.start()
    await wait_status(app, iid, InstanceStatus.WAITING, timeout=EVENT_TIMEOUT)
    clock.advance(11)
    assert await app.wait_result(iid, timeout=EVENT_TIMEOUT) == "card declined"
    assert runs == Counter({"fail": 1, "slow": 1, "after": 1})
    kinds = [(e.kind, e.name) for e in await app.get_history(iid)]
    # slow's position holds a marker (recorded when the group ended) that the replay steps over
    assert kinds[:3] == [
        (StepKind.ACTIVITY, "fail"),
        (StepKind.PATCH, "edda.cancelled-branch-step"),
        (StepKind.ACTIVITY, "after"),
    ]


async def test_other_durable_operations_in_a_branch_are_refused(make_app, catalog: Catalog) -> None:
    @activity
    async def step(ctx: WorkflowContext) -> int:
        return 1

    async def branch(ctx: WorkflowContext) -> int:
        await step(ctx)
        ctx.now()  # not an activity: refused inside branches
        return 2

    @workflow(catalog=catalog)
    async def fan(ctx: WorkflowContext) -> list[int]:
        return await ctx.parallel(branch(ctx), branch(ctx))

    app = await make_app()
    iid = await fan.start()
    try:
        await app.wait_result(iid, timeout=EVENT_TIMEOUT)
    except WorkflowFailedError as exc:
        assert "inside concurrent branches" in str(exc)
        assert "only activities may run in branches" in str(exc)
    else:
        raise AssertionError("ctx.now() in a branch should fail the workflow")
