"""``DurableGraph``: run a pydantic-graph 2.x graph inside a durable workflow, one activity per step.

Each builder step and ``BaseNode`` node runs as an activity named ``<graph name>.<node id>`` with the
activity id ``<graph name>.<node id>#<n>`` (the n-th run of that node in this graph run). The activity
runs the step on a fresh copy of the state and records the step's output and the state after it as
JSON; the workflow then loads that state into the live state object and hands the rebuilt output to
pydantic-graph. On replay the recorded outcome is used and the step does not run again.

Routing (edges, decisions, forks, joins and reducers) is pydantic-graph's own and runs in the workflow
body. Steps of parallel branches (``map``, broadcast forks) run concurrently, as in pydantic-graph: each
step is a branch of one ``ctx.branch_group()``, so its activity takes its history position when it runs
and a replay hands every step its own recorded outcome whatever order the branches finish in. Each
step runs on its own copy of the state and only the fields it changed are copied back. A graph with
``@workflow_step`` steps (which may wait durably) and :meth:`DurableGraph.iter` run steps one at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar, cast

from pydantic_graph import Graph, GraphRun, Step, StepContext
from pydantic_graph.step import NodeStep

from durable_core import Activity, BranchGroup, ConfigurationError, RetryPolicy, WorkflowContext
from durable_pydantic_graph._records import StepRecord, decode_output, encode_output
from durable_pydantic_graph._state import (
    check_state,
    load_changes_into,
    rebuild,
    snapshot,
    state_changes,
    to_json,
)
from durable_pydantic_graph.context import bound_context, runs_in_workflow
from durable_pydantic_graph.errors import UnsupportedGraphError

__all__ = ["DurableGraph"]

OutputT = TypeVar("OutputT")


class _StepJob:
    """Everything one step activity needs (kept in memory, never recorded)."""

    __slots__ = ("deps", "inputs", "state_json", "state_type", "step")

    def __init__(
        self,
        step: Step,
        deps: Any,
        inputs: Any,
        state_type: type[Any] | None,
        state_json: Any,
    ) -> None:
        self.step = step
        self.deps = deps
        self.inputs = inputs
        self.state_type = state_type
        self.state_json = state_json


async def _execute_step(ctx: WorkflowContext, job: _StepJob, inputs_json: Any) -> StepRecord:
    """Activity body: run the step on a fresh copy of the state; record output and resulting state.

    ``inputs_json`` is not used here: it is an argument so that the engine's determinism check compares
    the step's inputs on replay (two parallel runs of one node cannot silently swap recorded results).
    """
    state = rebuild(job.state_type, job.state_json) if job.state_type is not None else None
    with bound_context(None):  # durable waits are for @workflow_step steps only
        output = await job.step.call(StepContext(state=state, deps=job.deps, inputs=job.inputs))
    after = snapshot(state)
    record = encode_output(job.step, output, after)
    return record.model_copy(update={"changes": state_changes(job.state_json, after)})


def _inputs_json(inputs: Any) -> Any:
    """JSON form of a step's inputs for the determinism check (None when they are not JSON)."""
    try:
        return to_json(inputs, "step inputs")
    except UnsupportedGraphError:
        return None


def _check_workflow_context(ctx: object) -> None:
    if not isinstance(ctx, WorkflowContext) or ctx.in_activity:
        raise TypeError("DurableGraph.run() must be called from a workflow body with its WorkflowContext")


def _original(node: Step) -> Any:
    return node.node_type if isinstance(node, NodeStep) else node.call


class DurableGraph(Generic[OutputT]):
    """A pydantic-graph ``Graph`` whose steps are durable activities.

    The type parameter is the graph's output type; annotate it (mypy cannot read pydantic-graph's
    generics)::

        order_graph: DurableGraph[Receipt] = DurableGraph(builder.build(), name="orders")

        @workflow
        async def process_order(ctx: WorkflowContext, order: Order) -> Receipt:
            return await order_graph.run(ctx, state=OrderState(), inputs=order)

    Args:
        graph: a graph built with ``GraphBuilder.build()``.
        name: stable name used in activity names (defaults to the graph's name); keep it stable
            across deploys, recorded histories refer to it.
        retry_policy: retry policy of every step activity (defaults to the app's).
        timeout: seconds one attempt of a step may take.

    Raises:
        ConfigurationError: ``graph`` is not a pydantic-graph ``Graph`` or has no name.
    """

    def __init__(
        self,
        graph: Graph,
        *,
        name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        if not isinstance(graph, Graph):
            raise ConfigurationError(
                f"DurableGraph needs a pydantic_graph.Graph (from GraphBuilder(...).build()), "
                f"got {type(graph).__name__}"
            )
        graph_name = name or graph.name
        if not graph_name:
            raise ConfigurationError(
                "DurableGraph needs a stable name: pass name=... or build the graph with GraphBuilder(name=...)"
            )
        _refuse_stream_steps(graph)
        self.graph = graph
        self.name = graph_name
        self._activities: dict[str, Activity[Any, StepRecord]] = {}
        for node_id, node in graph.nodes.items():
            if isinstance(node, Step) and not runs_in_workflow(_original(node)):
                self._activities[node_id] = Activity(
                    _execute_step, name=f"{graph_name}.{node_id}", retry_policy=retry_policy, timeout=timeout
                )

    @property
    def activity_names(self) -> dict[str, str]:
        """Node id -> the activity name its runs are recorded under (steps marked @workflow_step excluded)."""
        return {node_id: act.name for node_id, act in self._activities.items()}

    async def run(
        self,
        ctx: WorkflowContext,
        *,
        state: Any = None,
        deps: Any = None,
        inputs: Any = None,
    ) -> OutputT:
        """Run the graph durably from a workflow body and return its output.

        Args:
            ctx: the workflow's context.
            state: the graph state (a dataclass or Pydantic model, or None); it is updated in place
                with the recorded state after every step.
            deps: dependencies handed to steps as ``ctx.deps`` (never recorded; rebuild them in the
                workflow, e.g. clients and settings).
            inputs: the graph's input (must be JSON-serializable with pydantic).

        Raises:
            TypeError: ``ctx`` is not a WorkflowContext, or the call is made inside an activity.
            UnsupportedGraphError: the state is not a mutable dataclass or Pydantic model.
        """
        durable, run = self._durable_graph(ctx, state)
        with bound_context(ctx):
            if len(self._activities) < sum(isinstance(node, Step) for node in self.graph.nodes.values()):
                output = await durable.run(state=state, deps=deps, inputs=inputs, infer_name=False)
            else:
                with ctx.branch_group() as group:
                    run.group = group
                    output = await durable.run(state=state, deps=deps, inputs=inputs, infer_name=False)
        return cast(OutputT, output)

    @asynccontextmanager
    async def iter(
        self,
        ctx: WorkflowContext,
        *,
        state: Any = None,
        deps: Any = None,
        inputs: Any = None,
    ) -> AsyncIterator[GraphRun[Any, Any, OutputT]]:
        """Run the graph durably step by step, as pydantic-graph's ``Graph.iter()`` does.

        Yields pydantic-graph's own ``GraphRun``: ``async for event in run`` (or ``await run.next()``)
        advances it, each step running as its activity; ``run.output`` holds the result at the end. On
        replay the recorded steps are handed back in the same order without running again.

        Args:
            ctx: the workflow's context.
            state: the graph state, updated in place after every step (see :meth:`run`).
            deps: dependencies handed to steps as ``ctx.deps`` (never recorded).
            inputs: the graph's input.

        Raises:
            TypeError: ``ctx`` is not a WorkflowContext, or the call is made inside an activity.
            UnsupportedGraphError: the state is not a mutable dataclass or Pydantic model.
        """
        durable, _ = self._durable_graph(ctx, state)
        with bound_context(ctx):
            async with durable.iter(state=state, deps=deps, inputs=inputs, infer_name=False) as graph_run:
                yield graph_run

    def _durable_graph(self, ctx: WorkflowContext, state: Any) -> tuple[Graph, _DurableRun]:
        """A copy of the graph whose steps run as this run's activities, and the run that wraps them."""
        _check_workflow_context(ctx)
        check_state(state)
        run = _DurableRun(self, ctx, state)
        nodes = {
            node_id: run.wrap(node) if isinstance(node, Step) else node
            for node_id, node in self.graph.nodes.items()
        }
        return dataclasses.replace(self.graph, nodes=nodes), run


def _is_stream_step(node: Step) -> bool:
    """Whether ``node`` came from ``GraphBuilder.stream``: its call wraps an async generator function."""
    call = node.call
    wrapped = inspect.getclosurevars(call).nonlocals.get("call") if inspect.isfunction(call) else None
    return ".stream.<locals>." in getattr(call, "__qualname__", "") or inspect.isasyncgenfunction(wrapped)


def _refuse_stream_steps(graph: Graph) -> None:
    streams = sorted(
        node_id for node_id, node in graph.nodes.items() if isinstance(node, Step) and _is_stream_step(node)
    )
    if streams:
        raise UnsupportedGraphError(
            f"stream steps cannot run durably: {', '.join(repr(s) for s in streams)} (from @builder.stream). "
            "A durable step records one whole result, so make them @builder.step functions that return a list"
        )


class _DurableRun:
    """One durable run of a graph: per-node counters, and how steps are ordered.

    With ``group`` set, every step is a branch of it and steps run concurrently; without it (graphs with
    ``@workflow_step`` steps, ``iter()``) the lock runs them one at a time.
    """

    def __init__(self, owner: DurableGraph[Any], ctx: WorkflowContext, state: Any) -> None:
        self.owner = owner
        self.ctx = ctx
        self.state = state
        self.lock = asyncio.Lock()
        self.group: BranchGroup | None = None
        self.counts: Counter[str] = Counter()

    def wrap(self, node: Step) -> Step:
        """A copy of ``node`` whose call runs durably."""
        activity = self.owner._activities.get(node.id)

        async def call(step_ctx: StepContext) -> Any:
            if self.group is not None and activity is not None:
                with self.group.branch():
                    self.counts[node.id] += 1
                    return await self._run_activity(activity, node, step_ctx)
            async with self.lock:
                self.counts[node.id] += 1
                if activity is None:
                    return await node.call(step_ctx)
                return await self._run_activity(activity, node, step_ctx)

        if isinstance(node, NodeStep):
            wrapped: Step = NodeStep(node.node_type, id=node.id, label=node.label)
            wrapped._call = call
            return wrapped
        return Step(id=node.id, call=call, label=node.label)

    async def _run_activity(
        self,
        activity: Activity[Any, StepRecord],
        node: Step,
        step_ctx: StepContext,
    ) -> Any:
        state = self.state
        job = _StepJob(
            node, step_ctx.deps, step_ctx.inputs, type(state) if state is not None else None, snapshot(state)
        )
        inputs_json = _inputs_json(step_ctx.inputs)
        activity_id = f"{activity.name}#{self.counts[node.id]}"
        record = await activity(self.ctx, job, inputs_json, activity_id=activity_id)
        if state is not None:
            load_changes_into(state, record.state, record.changes)
        return decode_output(node, record, self.owner.graph.nodes)
