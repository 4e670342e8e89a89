"""Wake latency: time from sending an event to the waiting workflow having completed.

Workflow (same shape on both engines, see ``wait_engines.py``)::

    @workflow
    async def bench_wake(ctx, i: int) -> int:
        event = await wait_event(ctx, "bench.wake")
        return event.data["i"]

``--trials`` instances (50) plus one warm-up are started and left parked (stored as waiting, holding no
worker); then, one trial at a time, an event addressed to one of them is sent and the time from the
``send`` call until that workflow's ``on_workflow_complete`` hook has run (its completed status is written)
is measured. The next trial starts as soon as the previous one finished.

* ``--mode in-process``: one process sends and runs the workflows (the event arrives at the app that
  runs the instance, e.g. through its CloudEvents endpoint).
* ``--mode cross-process``: the workflows run in a worker subprocess (``wait_worker.py``); this process
  only sends (ours: a client app with ``run_workers=False``; edda: its storage with a NOTIFY listener).
  The worker reports completion times from ``time.monotonic()``, the system-wide ``CLOCK_MONOTONIC``.

Bounded: a trial that takes longer than ``--trial-timeout`` s counts as unfinished (it ranks as slowest
in the percentiles, so a median that lands on one is reported as "did not finish in N s"), and no new
trial starts after ``--budget`` s; how many trials ran is part of the result.

Usage::

    .venv/bin/python bench/wake_latency.py --engine durable_core --db-url sqlite:////tmp/w.db
    bench/.peer-venv/bin/python bench/wake_latency.py --engine edda --db-url postgresql://postgres@127.0.0.1/db \\
        --mode cross-process

Prints ``BENCH_RESULT {json}`` on stdout (exit status 3 when ``durable_core`` is not importable).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from bench_common import emit_result, log  # noqa: E402
from wait_common import EXIT_UNAVAILABLE, add_engine_args, engine_unavailable, loop_name, summarize_ms  # noqa: E402
from wait_engines import Completions, Engine, make_engine, run_engine_main  # noqa: E402
from wait_worker import WorkerClient  # noqa: E402

TRIALS = 50
TRIAL_TIMEOUT_S = 35.0
BUDGET_S = 150.0


async def _trials(
    engine: Engine,
    ids: list[str],
    completions: Completions,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Send one event at a time and time each to its workflow's completion."""
    latencies: list[float | None] = []
    send_s: list[float | None] = []
    started = time.monotonic()
    budget_hit = False
    for k, iid in enumerate(ids):
        if time.monotonic() - started > args.budget:
            budget_hit = True
            break
        t0 = time.monotonic()
        await engine.send(iid, k)
        t1 = time.monotonic()
        done = await completions.wait(iid, args.trial_timeout - (t1 - t0))
        latencies.append(None if done is None else done - t0)
        send_s.append(t1 - t0)
        if done is None:
            log(f"{engine.label}: trial {k} did not finish in {args.trial_timeout} s")
    summary = summarize_ms(latencies)
    return {
        **summary,
        "trials_requested": len(ids),
        "budget_exhausted": budget_hit,
        "send_call_p50_ms": summarize_ms(send_s)["p50_ms"],
        "elapsed_s": round(time.monotonic() - started, 3),
        "latencies_ms": [None if v is None else round(v * 1000.0, 3) for v in latencies],
    }


async def _warm_up(engine: Engine, iid: str, completions: Completions, timeout: float) -> None:
    await engine.send(iid, -1)
    if await completions.wait(iid, timeout) is None:
        log(f"warm-up workflow did not finish in {timeout} s (measuring anyway)")


async def run_in_process(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    """Sender and workflows in this process."""
    await engine.open(args.db_url, workers=True)
    try:
        ids = [await engine.start_waiter(k) for k in range(args.trials + 1)]
        await engine.wait_parked(ids, 120.0)
        await _warm_up(engine, ids[0], engine.completions, args.trial_timeout)
        return await _trials(engine, ids[1:], engine.completions, args)
    finally:
        await engine.close()


async def run_cross_process(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    """Workflows in a worker subprocess, events sent from here."""
    worker = await WorkerClient.spawn(args)
    try:
        await worker.expect("imported", 60.0)
        await worker.expect("ready", 60.0)
        await engine.open(args.db_url, workers=False)
        try:
            await worker.command("start", args.trials + 1)
            ids = await worker.expect("parked", 120.0)
            await _warm_up(engine, ids[0], worker.completions, args.trial_timeout)
            result = await _trials(engine, ids[1:], worker.completions, args)
        finally:
            await engine.close()
        await worker.quit()
        return result
    finally:
        await worker.kill()


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return the result payload."""
    engine = make_engine(args.engine, sqlite_pragmas=args.sqlite_pragmas)
    log(f"{engine.label} wake latency, {args.mode}, {args.trials} trials")
    if args.mode == "in-process":
        result = await run_in_process(engine, args)
    else:
        result = await run_cross_process(engine, args)
    log(f"{engine.label} wake latency: p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms")
    return {
        "bench": "wake_latency",
        "engine": engine.label,
        "mode": args.mode,
        "loop": loop_name(),
        "settings": engine.engine_settings(),
        "trial_timeout_s": args.trial_timeout,
        "budget_s": args.budget,
        "wake": result,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_engine_args(parser)
    parser.add_argument("--mode", choices=["in-process", "cross-process"], default="in-process")
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--trial-timeout", type=float, default=TRIAL_TIMEOUT_S, help="seconds per trial")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="no new trial after this many s")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    problem = engine_unavailable(args.engine)
    if problem:
        msg = f"durable_core is not usable yet ({problem}); our rows stay pending"
        log(msg)
        emit_result({"bench": "wake_latency", "engine": "durable_core", "unavailable": msg})
        return EXIT_UNAVAILABLE
    emit_result(run_engine_main(args.engine, amain(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
