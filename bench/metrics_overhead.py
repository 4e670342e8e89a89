"""Cost of Prometheus metrics (``edda_mcp.metrics``) on step throughput; the target is under 3 %.

Two measurements:

1. **A/B throughput.** The same workload -- ``--workflows`` workflows of ``--steps`` trivial activities,
   all started at once -- runs on two fresh engines, one with ``metrics_for(app)`` attached and one
   without, alternating for ``--rounds`` rounds (so drift on a shared machine hits both alike). Reported:
   the median steps/s of each and the overhead ``1 - with / without``.
2. **Per-step cost.** What metrics add to one step, timed in isolation: the observer calls one live
   activity makes (``step_finished``; per workflow also ``workflow_started`` / ``workflow_finished``),
   in nanoseconds, as a fraction of the measured time per step without metrics. This is immune to the
   noise of (1) and is the number to trust on a loaded machine.

The default database is in-memory SQLite, the fastest backend, where a fixed per-step cost weighs most.

Usage::

    .venv/bin/python bench/metrics_overhead.py [--db-url URL] [--rounds 5] [--workflows 50] [--steps 20]

Prints ``BENCH_RESULT {json}``; exits 1 when the per-step cost is 3 % or more.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from bench_common import emit_result, ensure_loopback, log  # noqa: E402

from durable_core import (  # noqa: E402
    Catalog,
    EddaApp,
    InstanceStatus,
    StepKind,
    StepObservation,
    WorkflowContext,
    activity,
    workflow,
)
from edda_mcp.metrics import metrics_for  # noqa: E402

TARGET = 0.03
CATALOG = Catalog()


@activity
async def step(ctx: WorkflowContext, i: int) -> int:
    """A trivial activity."""
    return i


@workflow(catalog=CATALOG)
async def n_steps(ctx: WorkflowContext, n: int) -> int:
    """``n`` trivial activities in sequence."""
    total = 0
    for i in range(n):
        total += await step(ctx, i)
    return total


async def one_round(db_url: str, *, metrics: bool, workflows: int, steps: int) -> float:
    """Steps per second of one concurrent batch on a fresh engine."""
    async with EddaApp(db_url, workflows=list(CATALOG), max_concurrent_runs=workflows) as app:
        if metrics:
            metrics_for(app)
        await app.wait_result(await n_steps.with_options(app=app).start(n=steps), timeout=60)  # warm-up
        start = time.perf_counter()
        ids = [await n_steps.with_options(app=app).start(n=steps) for _ in range(workflows)]
        for iid in ids:
            if await app.wait_result(iid, timeout=600) != sum(range(steps)):
                raise RuntimeError(f"{iid} returned a wrong result")
        elapsed = time.perf_counter() - start
        if metrics:
            assert len(app.observers) == 1
    return workflows * steps / elapsed


async def per_step_cost_ns(steps: int) -> float:
    """Nanoseconds metrics add per live step (observer calls of one step + its workflow's share)."""
    async with EddaApp("sqlite:///:memory:", workflows=list(CATALOG), run_workers=False) as app:
        observers = app.observers
        metrics_for(app)
        observation = StepObservation("n_steps", "step", StepKind.ACTIVITY, 0.001, 1, True)
        calls = 200_000
        start = time.perf_counter_ns()
        for _ in range(calls):
            observers.step_finished(observation)
        per_step = (time.perf_counter_ns() - start) / calls
        start = time.perf_counter_ns()
        for _ in range(calls // 10):
            observers.workflow_started("n_steps")
            observers.workflow_finished("n_steps", InstanceStatus.COMPLETED)
        per_workflow = (time.perf_counter_ns() - start) / (calls // 10)
    return per_step + per_workflow / steps


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default="sqlite:///:memory:")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    ensure_loopback(args.db_url)
    without: list[float] = []
    with_metrics: list[float] = []
    for n in range(args.rounds):
        for metrics, into in (
            ((False, without), (True, with_metrics))
            if n % 2 == 0
            else ((True, with_metrics), (False, without))
        ):
            into.append(
                await one_round(args.db_url, metrics=metrics, workflows=args.workflows, steps=args.steps)
            )
        log(f"round {n + 1}: without {without[-1]:.0f} steps/s, with metrics {with_metrics[-1]:.0f} steps/s")
    base, measured = statistics.median(without), statistics.median(with_metrics)
    ab_overhead = 1 - measured / base
    cost_ns = await per_step_cost_ns(args.steps)
    step_ns = 1e9 / base
    share = cost_ns / step_ns
    result: dict[str, Any] = {
        "db": args.db_url.split(":")[0],
        "steps_per_s_without": round(base, 1),
        "steps_per_s_with_metrics": round(measured, 1),
        "ab_overhead": round(ab_overhead, 4),
        "metrics_ns_per_step": round(cost_ns),
        "step_ns_without": round(step_ns),
        "per_step_overhead": round(share, 4),
        "target": TARGET,
        "pass": share < TARGET,
    }
    emit_result(result)
    return 0 if share < TARGET else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
