"""Crash-test worker for durable_pydantic_graph: ``python -m tests.crash.programs.pydantic_graph_worker``.

Serves :data:`CATALOG` (one workflow running a 4-step pydantic-graph graph ``s1 -> s2 -> s3 -> s4``)
until SIGTERM or SIGKILL and prints ``ready <worker id>`` once initialized. Every step appends
``start``/``done`` lines to the side-effect log (format of :mod:`tests.crash.support`). With
``--pause-after LABEL`` the workflow stalls right after that step's history entry was committed, so
the test can kill the process between two steps.

Options: ``--db URL --log PATH [--pause-after LABEL]...``
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic_graph import GraphBuilder, StepContext

from durable_core import Catalog, RetryPolicy, WorkflowContext, workflow
from durable_pydantic_graph import DurableGraph
from tests.crash.programs.paused_worker import serve_main

CATALOG = Catalog()
GRAPH_NAME = "crash_graph"
LABELS = ("s1", "s2", "s3", "s4")


@dataclass
class Settings:
    """Per-process behaviour, set from the command line."""

    log_path: str = ""
    pause_after: frozenset[str] = frozenset()
    forever: asyncio.Event = field(default_factory=asyncio.Event)  # never set


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


# -- the graph: nested dataclasses and Pydantic models in the state --------------------------------
class Money(BaseModel):
    currency: str
    cents: int


@dataclass
class Stamp:
    step: str
    pid: int


@dataclass
class Ledger:
    entries: list[Money] = field(default_factory=list)


@dataclass
class PipelineState:
    ledger: Ledger = field(default_factory=Ledger)
    stamps: list[Stamp] = field(default_factory=list)
    total: Money | None = None


@dataclass
class Deps:
    instance_id: str


builder = GraphBuilder(
    name=GRAPH_NAME, state_type=PipelineState, deps_type=Deps, input_type=int, output_type=str
)


def _enter(ctx: StepContext[PipelineState, Deps, Any], label: str) -> None:
    effect("start", ctx.deps.instance_id, label)
    ctx.state.stamps.append(Stamp(label, os.getpid()))


@builder.step
async def s1(ctx: StepContext[PipelineState, Deps, int]) -> Money:
    _enter(ctx, "s1")
    money = Money(currency="EUR", cents=ctx.inputs * 100)
    ctx.state.ledger.entries.append(money)
    effect("done", ctx.deps.instance_id, "s1")
    return money


@builder.step
async def s2(ctx: StepContext[PipelineState, Deps, Money]) -> Money:
    _enter(ctx, "s2")
    doubled = Money(currency=ctx.inputs.currency, cents=ctx.inputs.cents * 2)
    ctx.state.ledger.entries.append(doubled)
    effect("done", ctx.deps.instance_id, "s2")
    return doubled


@builder.step
async def s3(ctx: StepContext[PipelineState, Deps, Money]) -> int:
    _enter(ctx, "s3")
    # Needs s1's and s2's state as real objects (attribute access on nested models).
    ctx.state.total = Money(currency="EUR", cents=sum(m.cents for m in ctx.state.ledger.entries))
    effect("done", ctx.deps.instance_id, "s3")
    return len(ctx.state.ledger.entries)


@builder.step
async def s4(ctx: StepContext[PipelineState, Deps, int]) -> str:
    _enter(ctx, "s4")
    assert ctx.state.total is not None
    pids = ",".join(str(s.pid) for s in ctx.state.stamps)
    effect("done", ctx.deps.instance_id, "s4")
    return f"{ctx.inputs} entries, total {ctx.state.total.cents} {ctx.state.total.currency}; pids {pids}"


builder.add(
    builder.edge_from(builder.start_node).to(s1),
    builder.edge_from(s1).to(s2),
    builder.edge_from(s2).to(s3),
    builder.edge_from(s3).to(s4),
    builder.edge_from(s4).to(builder.end_node),
)
GRAPH: DurableGraph[str] = DurableGraph(builder.build(), retry_policy=RetryPolicy(max_attempts=1))


@workflow(catalog=CATALOG)
async def graph_pipeline(ctx: WorkflowContext, n: int) -> str:
    """Run the 4-step graph for ``n`` euros."""
    return await GRAPH.run(ctx, state=PipelineState(), deps=Deps(ctx.instance_id), inputs=n)


class PauseHooks:
    """Stalls the workflow body after a step in ``SETTINGS.pause_after`` was recorded (live only)."""

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """Called after the step's history entry was committed."""
        if not cache_hit and activity_name.removeprefix(f"{GRAPH_NAME}.") in SETTINGS.pause_after:
            await SETTINGS.forever.wait()


def _configure(log_path: str, pause_after: frozenset[str]) -> None:
    SETTINGS.log_path = log_path
    SETTINGS.pause_after = pause_after


if __name__ == "__main__":
    serve_main("pydantic-graph-crash-worker", CATALOG, PauseHooks(), _configure)
