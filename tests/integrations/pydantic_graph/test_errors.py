"""Bad input gets clear errors; failing steps retry on a clean copy of the state; typed failures."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic_graph import GraphBuilder, StepContext

from durable_core import (
    Catalog,
    ConfigurationError,
    EddaError,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    workflow,
)
from durable_pydantic_graph import DurableGraph, UnsupportedGraphError, workflow_context
from tests.integrations.pydantic_graph.graphs import ORDER, ORDER_GRAPH, OrderState

FAST_RETRY = RetryPolicy(max_attempts=3, initial_interval=0, jitter=0)


@dataclass
class Tally:
    entries: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Frozen:
    value: int = 0


def _one_step_graph(name: str | None, fail_times: int, error: type[Exception]) -> Any:
    builder = GraphBuilder(
        name=name, state_type=Tally, deps_type=Counter[str], input_type=str, output_type=int
    )

    @builder.step
    async def flaky(ctx: StepContext[Tally, Counter[str], str]) -> int:
        ctx.deps["attempts"] += 1
        ctx.state.entries.append(ctx.inputs)  # mutated before failing: must not leak into the retry
        if ctx.deps["attempts"] <= fail_times:
            raise error(f"attempt {ctx.deps['attempts']} failed")
        return len(ctx.state.entries)

    builder.add(
        builder.edge_from(builder.start_node).to(flaky), builder.edge_from(flaky).to(builder.end_node)
    )
    return builder.build()


def test_rejects_what_is_not_a_graph_or_has_no_name() -> None:
    with pytest.raises(ConfigurationError, match=r"needs a pydantic_graph\.Graph"):
        DurableGraph(object())
    with pytest.raises(ConfigurationError, match="needs a stable name"):
        DurableGraph(_one_step_graph(None, 0, ValueError))
    assert DurableGraph(_one_step_graph(None, 0, ValueError), name="given").activity_names == {
        "flaky": "given.flaky"
    }


def test_workflow_context_outside_a_durable_graph_is_an_error() -> None:
    with pytest.raises(EddaError, match="only available in steps marked @workflow_step"):
        workflow_context()


async def test_failed_attempts_leave_no_trace_in_the_state(make_app: Any, catalog: Catalog) -> None:
    graph: DurableGraph[int] = DurableGraph(_one_step_graph("flaky", 2, OSError), retry_policy=FAST_RETRY)
    counts: Counter[str] = Counter()
    finals: list[Tally] = []

    @workflow(catalog=catalog)
    async def run_flaky(ctx: WorkflowContext) -> int:
        state = Tally()
        result = await graph.run(ctx, state=state, deps=counts, inputs="x")
        finals.append(state)
        return result

    await make_app()
    assert await run_flaky.start_and_wait() == 1  # the third attempt saw a clean state
    assert counts["attempts"] == 3
    assert finals == [Tally(entries=["x"])]


async def test_a_terminal_step_error_fails_the_workflow_with_its_type(
    make_app: Any, catalog: Catalog
) -> None:
    graph: DurableGraph[int] = DurableGraph(
        _one_step_graph("doomed", 99, TerminalError), retry_policy=FAST_RETRY
    )
    counts: Counter[str] = Counter()
    caught: list[str] = []

    @workflow(catalog=catalog)
    async def run_doomed(ctx: WorkflowContext) -> int:
        try:
            return await graph.run(ctx, state=Tally(), deps=counts, inputs="x")
        except TerminalError as exc:
            caught.append(str(exc))
            raise

    app = await make_app()
    iid = await run_doomed.start()
    with pytest.raises(WorkflowFailedError, match="attempt 1 failed"):
        await app.wait_result(iid, timeout=10)
    assert counts["attempts"] == 1  # terminal: no retry
    assert caught == ["attempt 1 failed"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("state", "message"),
    [(Frozen(), "frozen dataclass"), (42, "must be a dataclass instance or a Pydantic model")],
)
async def test_unsupported_states_are_named(
    make_app: Any, catalog: Catalog, state: object, message: str
) -> None:
    errors: list[str] = []

    @workflow(catalog=catalog)
    async def bad_state(ctx: WorkflowContext) -> None:
        try:
            await ORDER_GRAPH.run(ctx, state=state, deps=Counter(), inputs=ORDER)
        except UnsupportedGraphError as exc:
            errors.append(str(exc))

    await make_app()
    await bad_state.start_and_wait()
    assert len(errors) == 1 and message in errors[0]


async def test_run_outside_a_workflow_body_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="from a workflow body"):
        await ORDER_GRAPH.run(cast(WorkflowContext, object()), state=OrderState(), inputs=ORDER)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_stream_steps_are_rejected_with_a_clear_message(make_app: Any, catalog: Catalog) -> None:
    builder = GraphBuilder(name="streamy", input_type=int, output_type=int)

    @builder.stream
    async def numbers(ctx: StepContext[None, None, int]) -> Any:
        yield ctx.inputs

    builder.add(
        builder.edge_from(builder.start_node).to(numbers), builder.edge_from(numbers).to(builder.end_node)
    )
    graph: DurableGraph[int] = DurableGraph(builder.build(), retry_policy=RetryPolicy(max_attempts=1))

    @workflow(catalog=catalog)
    async def streaming(ctx: WorkflowContext) -> int:
        return await graph.run(ctx, inputs=1)

    app = await make_app()
    iid = await streaming.start()
    with pytest.raises(WorkflowFailedError, match="stream step"):
        await app.wait_result(iid, timeout=10)
