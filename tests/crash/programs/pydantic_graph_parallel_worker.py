"""Crash-test worker for concurrent DurableGraph branches: ``python -m tests.crash.programs.pydantic_graph_parallel_worker``.

Serves :data:`CATALOG`: one workflow running a graph that maps its numbers to two steps per branch
(``fetch`` then ``enrich``), joins the results and ends with ``total``. Every step appends
``start``/``done`` lines (label ``<step>-<input>``) to the side-effect log. In each instance ``fetch``
of 1 waits until ``fetch`` of 3 has finished, so branches finish in another order than they started.
With ``--pause-after fetch-2`` the branch of 2 stalls right after its ``fetch`` entry was committed;
with ``--pause-after in:enrich-10`` the ``enrich`` step of 10 stalls in its body (its history position is
taken, nothing is recorded there) while the later branches record theirs. The test kills the process
there, once the other branches have gone as far as they can.

Options: ``--db URL --log PATH [--pause-after LABEL]...``
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic_graph import GraphBuilder, StepContext, reduce_list_append

from durable_core import Catalog, RetryPolicy, WorkflowContext, workflow
from durable_pydantic_graph import DurableGraph
from tests.crash.programs.paused_worker import serve_main

CATALOG = Catalog()
GRAPH_NAME = "par_crash"
NUMBERS = [1, 2, 3]


@dataclass
class Settings:
    """Per-process behaviour, set from the command line."""

    log_path: str = ""
    pause_after: frozenset[str] = frozenset()
    forever: asyncio.Event = field(default_factory=asyncio.Event)  # never set
    fetched_3: defaultdict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))


SETTINGS = Settings()


def effect(event: str, instance_id: str, label: str) -> None:
    """Append ``<event> <instance> <label> <pid> 0`` to the side-effect log and fsync it."""
    line = f"{event} {instance_id} {label} {os.getpid()} 0\n".encode()
    fd = os.open(SETTINGS.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Fetched:
    values: dict[str, int] = field(default_factory=dict)


builder = GraphBuilder(
    name=GRAPH_NAME, state_type=Fetched, deps_type=str, input_type=list[int], output_type=str
)


@builder.step
async def fetch(ctx: StepContext[Fetched, str, int]) -> int:
    effect("start", ctx.deps, f"fetch-{ctx.inputs}")
    if ctx.inputs == 1:
        await asyncio.wait_for(SETTINGS.fetched_3[ctx.deps].wait(), 60)
    ctx.state.values[str(ctx.inputs)] = ctx.inputs * 10
    effect("done", ctx.deps, f"fetch-{ctx.inputs}")
    if ctx.inputs == 3:
        SETTINGS.fetched_3[ctx.deps].set()
    number: int = ctx.inputs  # pydantic-graph's generics are Any to mypy
    return number * 10


@builder.step
async def enrich(ctx: StepContext[Fetched, str, int]) -> int:
    effect("start", ctx.deps, f"enrich-{ctx.inputs}")
    if f"in:enrich-{ctx.inputs}" in SETTINGS.pause_after:
        await SETTINGS.forever.wait()
    effect("done", ctx.deps, f"enrich-{ctx.inputs}")
    number: int = ctx.inputs
    return number + 1


joined = builder.join(reduce_list_append, initial_factory=list[int])


@builder.step
async def total(ctx: StepContext[Fetched, str, list[int]]) -> str:
    effect("start", ctx.deps, "total")
    fetched = ",".join(f"{k}={v}" for k, v in sorted(ctx.state.values.items()))
    effect("done", ctx.deps, "total")
    return f"{ctx.inputs} sum {sum(ctx.inputs)} fetched {fetched}"


builder.add(
    builder.edge_from(builder.start_node).map().to(fetch),
    builder.edge_from(fetch).to(enrich),
    builder.edge_from(enrich).to(joined),
    builder.edge_from(joined).to(total),
    builder.edge_from(total).to(builder.end_node),
)
GRAPH: DurableGraph[str] = DurableGraph(builder.build(), retry_policy=RetryPolicy(max_attempts=1))


@workflow(catalog=CATALOG)
async def parallel_pipeline(ctx: WorkflowContext) -> str:
    """Run the graph over :data:`NUMBERS`."""
    return await GRAPH.run(ctx, state=Fetched(), deps=ctx.instance_id, inputs=NUMBERS)


class PauseHooks:
    """Stalls a branch after ``fetch`` of a number in ``SETTINGS.pause_after`` was recorded (live only)."""

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """Called after the step's history entry was committed."""
        value = getattr(result, "value", None)
        if cache_hit or activity_name != f"{GRAPH_NAME}.fetch" or not isinstance(value, int):
            return
        if f"fetch-{value // 10}" in SETTINGS.pause_after:
            await SETTINGS.forever.wait()


def _configure(log_path: str, pause_after: frozenset[str]) -> None:
    SETTINGS.log_path = log_path
    SETTINGS.pause_after = pause_after


if __name__ == "__main__":
    serve_main("pydantic-graph-parallel-crash-worker", CATALOG, PauseHooks(), _configure)
