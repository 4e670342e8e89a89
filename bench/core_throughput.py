"""The two throughput workloads run with this project's engine, ``durable_core``.

* Workload (1): one workflow of 20 trivial activities, run 30 times sequentially with
  ``start_and_wait``; reported as steps/s = 20 * 30 / elapsed and ms per step.
* Workload (2): 500 workflows of 5 activities, all started concurrently with ``start()``, then every
  result awaited through ``app.handle(id).result()``; reported as workflows/s = 500 / (elapsed from the
  first start to the last result).

One warm-up workflow runs before each timed window. Every result is checked.

Usage::

    .venv/bin/python bench/core_throughput.py --db-url sqlite:////tmp/x.db [--workload seq|conc|all]
        [--synchronous full|normal]   # SQLite: EddaApp(sqlite_synchronous=...), default full
    .venv/bin/python bench/core_throughput.py --db-url postgresql://postgres@127.0.0.1:5432/scratch

Prints ``BENCH_RESULT {json}`` on stdout. Exits with status 3 (and ``"unavailable"`` in the result) when
``durable_core`` cannot be imported or lacks the API used here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from bench_common import WorkloadResult, add_workload_args, conc_result, emit_result, ensure_loopback, log

EXIT_UNAVAILABLE = 3

# Run from a checkout without installing: make the project root importable (appended, so an installed
# durable_core or one on PYTHONPATH comes first).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

try:
    from durable_core import EddaApp, WorkflowContext, activity, workflow
except Exception as exc:  # ImportError, or any error raised while importing a half-written package
    _IMPORT_ERROR: str | None = f"{type(exc).__name__}: {exc}"
else:
    _IMPORT_ERROR = None

    @activity
    async def step(ctx: WorkflowContext, i: int) -> int:
        """A trivial activity."""
        return i

    @workflow
    async def n_steps(ctx: WorkflowContext, n: int) -> int:
        """Run ``n`` trivial activities in sequence and return the sum of their results."""
        total = 0
        for i in range(n):
            total += await step(ctx, i)
        return total


async def run_seq(runs: int, steps: int, timeout: float) -> WorkloadResult:
    """Workload (1): ``runs`` workflows of ``steps`` activities, one after the other."""
    expected = sum(range(steps))
    await n_steps.start_and_wait(n=steps)  # warm-up, not timed

    async def body() -> None:
        for _ in range(runs):
            got = await n_steps.start_and_wait(n=steps)
            if got != expected:
                raise RuntimeError(f"workflow returned {got!r}, expected {expected!r}")

    start = time.perf_counter()
    await asyncio.wait_for(body(), timeout)
    elapsed = time.perf_counter() - start
    return WorkloadResult.from_timing("seq", runs, steps, elapsed)


async def run_conc(app: Any, workflows: int, steps: int, timeout: float) -> WorkloadResult:
    """Workload (2): ``workflows`` workflows of ``steps`` activities, all started at once."""
    expected = sum(range(steps))
    await n_steps.start_and_wait(n=steps)  # warm-up, not timed

    async def result_of(instance_id: str) -> tuple[float, bool]:
        try:
            got = await app.handle(instance_id).result(timeout=timeout)
        except Exception as exc:
            log(f"workflow {instance_id} raised {type(exc).__name__}: {str(exc)[:300]}")
            return time.perf_counter(), False
        if got != expected:
            log(f"workflow {instance_id} returned {got!r}, expected {expected!r}")
        return time.perf_counter(), got == expected

    async def body() -> list[tuple[float, bool]]:
        ids = await asyncio.gather(*(n_steps.start(n=steps) for _ in range(workflows)))
        return await asyncio.gather(*(result_of(i) for i in ids))

    start = time.perf_counter()
    ends = await asyncio.wait_for(body(), timeout)
    return conc_result(steps, start, ends)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    """Run the requested workloads and return the result payload."""
    if args.db_url.startswith("postgres"):
        ensure_loopback(args.db_url)
    options: dict[str, Any] = {}
    if args.db_url.startswith("sqlite"):
        options["sqlite_synchronous"] = args.synchronous
    app = EddaApp(db_url=args.db_url, service_name="bench", **options)
    await app.initialize()
    results: dict[str, Any] = {}
    try:
        if args.workload in ("seq", "all"):
            log(f"durable_core seq: {args.seq_runs} x {args.seq_steps} steps")
            results["seq"] = (await run_seq(args.seq_runs, args.seq_steps, args.wait_timeout)).as_dict()
            log(f"durable_core seq: {results['seq']['steps_per_s']} steps/s")
        if args.workload in ("conc", "all"):
            log(f"durable_core conc: {args.conc_workflows} x {args.conc_steps} steps")
            results["conc"] = (
                await run_conc(app, args.conc_workflows, args.conc_steps, args.wait_timeout)
            ).as_dict()
            log(f"durable_core conc: {results['conc']['workflows_per_s']} workflows/s")
    finally:
        await app.shutdown()
    return {
        "bench": "core_throughput",
        "engine": "durable_core",
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "python": sys.version.split()[0],
        "synchronous": args.synchronous if args.db_url.startswith("sqlite") else None,
        **results,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_workload_args(parser)
    args = parser.parse_args(argv)
    if _IMPORT_ERROR is not None:
        msg = f"durable_core is not importable yet ({_IMPORT_ERROR}); our engine's rows stay pending"
        log(msg)
        emit_result({"bench": "core_throughput", "engine": "durable_core", "unavailable": msg})
        return EXIT_UNAVAILABLE
    emit_result(asyncio.run(amain(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
