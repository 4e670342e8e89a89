"""Parallel branches of a DurableGraph run concurrently (as pydantic-graph runs them) and replay exactly.

Each workflow parks on a timer after the graph so that the next run replays the whole graph from its
history; counters in the (never recorded) deps prove that no completed step ran again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic_graph import GraphBuilder, StepContext, reduce_list_append

from durable_core import (
    Catalog,
    FakeClock,
    InstanceStatus,
    RetryPolicy,
    StepKind,
    WorkflowContext,
    WorkflowFailedError,
    sleep,
    workflow,
)
from durable_pydantic_graph import DurableGraph
from tests.integrations.pydantic_graph.support import wait_status

TIMEOUT = 30.0  # generous: an event wait only runs out when the branches do not overlap


@dataclass
class Deps:
    runs: Counter[str] = field(default_factory=Counter)
    second_started: asyncio.Event = field(default_factory=asyncio.Event)
    second_done: asyncio.Event = field(default_factory=asyncio.Event)
    label: str = "v1"  # what `finish` appends
    scale: int = 1  # the workflow scales its numbers by it; a "deploy" changes it between runs


@dataclass
class Seen:
    items: dict[str, int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


pipe = GraphBuilder(name="pipe", state_type=Seen, deps_type=Deps, input_type=list[int], output_type=list[str])


@pipe.step
async def fetch(ctx: StepContext[Seen, Deps, int]) -> int:
    ctx.deps.runs[f"fetch {ctx.inputs}"] += 1
    if ctx.inputs == 2:
        ctx.deps.second_started.set()
    if ctx.inputs == 1:
        # item 1 waits for item 2's step to start and end: one step at a time this would time out,
        # and item 2 finishes first although item 1 started first
        await asyncio.wait_for(ctx.deps.second_started.wait(), TIMEOUT)
        await asyncio.wait_for(ctx.deps.second_done.wait(), TIMEOUT)
    ctx.state.items[str(ctx.inputs)] = ctx.inputs * 10
    if ctx.inputs == 2:
        ctx.deps.second_done.set()
    number: int = ctx.inputs  # pydantic-graph's generics are Any to mypy
    return number * 10


@pipe.step
async def finish(ctx: StepContext[Seen, Deps, int]) -> str:
    ctx.deps.runs[f"finish {ctx.inputs}"] += 1
    ctx.state.log.append(f"finish {ctx.inputs}")
    return f"{ctx.inputs}-{ctx.deps.label}"


gather_all = pipe.join(reduce_list_append, initial_factory=list[str])


@pipe.step
async def summary(ctx: StepContext[Seen, Deps, list[str]]) -> list[str]:
    ctx.deps.runs["summary"] += 1
    collected: list[str] = ctx.inputs
    return collected


pipe.add(
    pipe.edge_from(pipe.start_node).map().to(fetch),
    pipe.edge_from(fetch).to(finish),
    pipe.edge_from(finish).to(gather_all),
    pipe.edge_from(gather_all).to(summary),
    pipe.edge_from(summary).to(pipe.end_node),
)
PIPE: DurableGraph[list[str]] = DurableGraph(pipe.build(), retry_policy=RetryPolicy(max_attempts=1))


def _pipeline_workflow(catalog: Catalog, deps: Deps, states: list[Seen]) -> Any:
    @workflow(catalog=catalog)
    async def pipeline(ctx: WorkflowContext, numbers: list[int]) -> list[str]:
        state = Seen()
        result = await PIPE.run(ctx, state=state, deps=deps, inputs=[n * deps.scale for n in numbers])
        await sleep(ctx, 10)
        states.append(state)
        return result

    return pipeline


async def test_map_branches_overlap_and_replay_with_another_completion_order(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    deps, states = Deps(), list[Seen]()
    pipeline = _pipeline_workflow(catalog, deps, states)
    app = await make_app()
    iid = await pipeline.start(numbers=[1, 2, 3])
    await wait_status(app, iid, InstanceStatus.WAITING, timeout=TIMEOUT)
    first = [(e.position, e.name, e.args_hash) for e in await app.get_history(iid)]
    clock.advance(11)
    result = await app.wait_result(iid, timeout=TIMEOUT)
    # results reach the join in the order the steps started (item order here), on both runs
    assert result == ["10-v1", "20-v1", "30-v1"]
    assert deps.runs == Counter(
        {
            "fetch 1": 1,
            "fetch 2": 1,
            "fetch 3": 1,
            "finish 10": 1,
            "finish 20": 1,
            "finish 30": 1,
            "summary": 1,
        }
    )
    # every branch's state change survives, on the live run and on the replay
    assert [s.items for s in states] == [{"1": 10, "2": 20, "3": 30}]
    assert sorted(states[0].log) == ["finish 10", "finish 20", "finish 30"]
    history = await app.get_history(iid)
    assert [(e.position, e.name, e.args_hash) for e in history[: len(first)]] == first
    assert sorted(e.name for e in history if e.kind is StepKind.ACTIVITY) == sorted(
        ["pipe.fetch"] * 3 + ["pipe.finish"] * 3 + ["pipe.summary"]
    )
    reports = await app.replay_check(limit=1)
    assert [r.ok for r in reports] == [True], reports


async def test_code_changed_between_runs_blocks_with_nondeterminism_error(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    deps = Deps()
    pipeline = _pipeline_workflow(catalog, deps, [])
    app = await make_app()
    iid = await pipeline.start(numbers=[1, 2])
    await wait_status(app, iid, InstanceStatus.WAITING, timeout=TIMEOUT)
    # a "deploy": the fetch steps now get other inputs
    deps.scale = 2
    deps.second_started.set()
    deps.second_done.set()
    clock.advance(11)
    await wait_status(app, iid, InstanceStatus.BLOCKED, timeout=TIMEOUT)
    reason = (await app.get_instance(iid)).blocked_reason or ""
    assert "at history position" in reason and "pipe.fetch" in reason, reason


# -- an error in one branch cancels its siblings ----------------------------------------------------
@dataclass
class Gate:
    runs: Counter[str] = field(default_factory=Counter)
    sibling_started: asyncio.Event = field(default_factory=asyncio.Event)
    sibling_cancelled: asyncio.Event = field(default_factory=asyncio.Event)


risky = GraphBuilder(name="risky", deps_type=Gate, input_type=list[int], output_type=list[int])


@risky.step
async def attempt(ctx: StepContext[None, Gate, int]) -> int:
    ctx.deps.runs[f"attempt {ctx.inputs}"] += 1
    if ctx.inputs == 1:
        await asyncio.wait_for(ctx.deps.sibling_started.wait(), TIMEOUT)
        raise ValueError("item 1 is broken")
    ctx.deps.sibling_started.set()
    try:
        await asyncio.Event().wait()  # until the failed sibling cancels it
    except asyncio.CancelledError:
        ctx.deps.sibling_cancelled.set()
        raise
    number: int = ctx.inputs
    return number


collected = risky.join(reduce_list_append, initial_factory=list[int])
risky.add(
    risky.edge_from(risky.start_node).map().to(attempt),
    risky.edge_from(attempt).to(collected),
    risky.edge_from(collected).to(risky.end_node),
)
RISKY: DurableGraph[list[int]] = DurableGraph(risky.build(), retry_policy=RetryPolicy(max_attempts=1))


async def test_an_error_in_one_branch_cancels_the_others_and_fails_the_run(
    make_app: Any, catalog: Catalog
) -> None:
    gate = Gate()

    @workflow(catalog=catalog)
    async def careful(ctx: WorkflowContext, numbers: list[int]) -> list[int]:
        return await RISKY.run(ctx, deps=gate, inputs=numbers)

    app = await make_app()
    iid = await careful.start(numbers=[1, 2])
    try:
        await app.wait_result(iid, timeout=TIMEOUT)
    except WorkflowFailedError as exc:
        assert "item 1 is broken" in str(exc)
    else:
        raise AssertionError("the failed branch should fail the workflow")
    assert gate.sibling_cancelled.is_set()
    assert gate.runs == Counter({"attempt 1": 1, "attempt 2": 1})


# -- broadcast: two different steps on the same input -----------------------------------------------
@dataclass
class Pair:
    right_started: asyncio.Event = field(default_factory=asyncio.Event)
    runs: Counter[str] = field(default_factory=Counter)


both = GraphBuilder(name="both", state_type=Seen, deps_type=Pair, input_type=int, output_type=list[str])


@both.step
async def left(ctx: StepContext[Seen, Pair, int]) -> str:
    ctx.deps.runs["left"] += 1
    await asyncio.wait_for(ctx.deps.right_started.wait(), TIMEOUT)  # only if both run at once
    ctx.state.items["left"] = ctx.inputs
    return f"left {ctx.inputs}"


@both.step
async def right(ctx: StepContext[Seen, Pair, int]) -> str:
    ctx.deps.runs["right"] += 1
    ctx.deps.right_started.set()
    ctx.state.items["right"] = -ctx.inputs
    return f"right {ctx.inputs}"


paired = both.join(reduce_list_append, initial_factory=list[str])
both.add(
    both.edge_from(both.start_node).to(left, right),
    both.edge_from(left, right).to(paired),
    both.edge_from(paired).to(both.end_node),
)
BOTH: DurableGraph[list[str]] = DurableGraph(both.build())


async def test_broadcast_branches_overlap_and_keep_both_state_changes(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    pair, states = Pair(), list[Seen]()

    @workflow(catalog=catalog)
    async def paired_flow(ctx: WorkflowContext, n: int) -> list[str]:
        state = Seen()
        result = await BOTH.run(ctx, state=state, deps=pair, inputs=n)
        await sleep(ctx, 10)
        states.append(state)
        return result

    app = await make_app()
    iid = await paired_flow.start(n=7)
    await wait_status(app, iid, InstanceStatus.WAITING, timeout=TIMEOUT)
    clock.advance(11)
    assert await app.wait_result(iid, timeout=TIMEOUT) == ["left 7", "right 7"]  # broadcast order
    assert pair.runs == Counter({"left": 1, "right": 1})
    assert [s.items for s in states] == [{"left": 7, "right": -7}]
