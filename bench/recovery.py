"""Recovery: 200 workflows waiting on events, their worker SIGKILLed and restarted.

1. A worker subprocess (``wait_worker.py``) starts ``--workflows`` (200) ``bench_wake`` instances, which
   park on ``wait_event(ctx, "bench.wake")``.
2. The worker is killed with SIGKILL (no shutdown of any kind) and reaped.
3. A new worker process is started on the same database. Timed from its spawn: ``imported`` (Python and
   the engine imported), ``initialized`` (the app's ``initialize()`` returned) and **ready**: one query
   finds all 200 instances stored as waiting and free to be resumed by anyone (no live lock or lease).
4. The new worker is asked to send every instance its event (from inside that process, as its
   CloudEvents endpoint would; at most 20 sends in flight). **Finish**: each instance's time from the
   call sending its event to its ``on_workflow_complete`` hook (all must be within 2 s), and the time
   from the first send to the last completion.

Bounded: instances not completed ``--timeout`` s after the last send count as unfinished.

Usage::

    .venv/bin/python bench/recovery.py --engine durable_core --db-url sqlite:////tmp/r.db
    bench/.peer-venv/bin/python bench/recovery.py --engine edda --db-url postgresql://postgres@127.0.0.1/db

Prints ``BENCH_RESULT {json}`` on stdout (exit status 3 when ``durable_core`` is not importable).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from bench_common import emit_result, log  # noqa: E402
from wait_common import (  # noqa: E402
    EXIT_UNAVAILABLE,
    add_engine_args,
    engine_unavailable,
    summarize_ms,
)
from wait_engines import ENGINE_LABELS  # noqa: E402
from wait_worker import WorkerClient  # noqa: E402

WORKFLOWS = 200
TIMEOUT_S = 60.0
FINISH_TARGET_S = 2.0


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return the result payload."""
    label = ENGINE_LABELS[args.engine]
    log(f"{label} recovery: {args.workflows} waiting workflows, SIGKILL, restart")
    first = await WorkerClient.spawn(args)
    try:
        await first.expect("imported", 60.0)
        await first.expect("ready", 60.0)
        await first.command("start", args.workflows)
        ids = await first.expect("parked", 300.0)
    finally:
        await first.kill()
    killed_at = time.monotonic()
    log(f"{label} recovery: first worker killed with {len(ids)} parked instances")

    second = await WorkerClient.spawn(args, "--expect-ready", str(len(ids)))
    try:
        imported = float((await second.expect("imported", 60.0))[0])
        initialized = float((await second.expect("ready", 120.0))[0])
        ready_words = await second.expect("all_ready", 300.0)
        ready = float(ready_words[0])
        await second.command("send_all", *ids)
        sends: dict[str, tuple[float, float]] = {}
        while True:
            words = await second.expect_any(("sent", "sent_all"), 300.0)
            if words[0] == "sent_all":
                break
            sends[words[1]] = (float(words[2]), float(words[3]))
        last_send = max(t1 for _, t1 in sends.values())
        finished = await second.completions.wait_all(ids, last_send + args.timeout)
        done = second.completions.mono
        per_instance = [done[i] - sends[i][0] if i in done else None for i in ids]
        first_send = min(t0 for t0, _ in sends.values())
        result = {
            "workflows": len(ids),
            "restart_after_kill_s": round(second.spawned_at - killed_at, 3),
            "imported_s": round(imported - second.spawned_at, 3),
            "initialized_s": round(initialized - second.spawned_at, 3),
            "ready_s": round(ready - second.spawned_at, 3),
            "ready_after_initialized_s": round(ready - initialized, 3),
            "sending_s": round(last_send - first_send, 3),
            "all_finished_s": round(max(done[i] for i in ids) - first_send, 3)
            if finished == len(ids)
            else None,
            "finish": summarize_ms(per_instance),
            "finish_target_s": FINISH_TARGET_S,
            "timeout_s": args.timeout,
        }
        if finished < len(ids):
            log(
                f"{label} recovery: {len(ids) - finished} did not finish within {args.timeout} s of the last send"
            )
        await second.quit()
    finally:
        await second.kill()
    log(
        f"{label} recovery: ready {result['ready_s']} s after restart; slowest finish "
        f"{result['finish']['max_ms']} ms after its event; all finished {result['all_finished_s']} s"
    )
    return {"bench": "recovery", "engine": label, "recovery": result}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_engine_args(parser)
    parser.add_argument("--workflows", type=int, default=WORKFLOWS)
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT_S, help="give up this many s after the last event was sent"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    problem = engine_unavailable(args.engine)
    if problem:
        msg = f"durable_core is not usable yet ({problem}); our rows stay pending"
        log(msg)
        emit_result({"bench": "recovery", "engine": "durable_core", "unavailable": msg})
        return EXIT_UNAVAILABLE
    emit_result(asyncio.run(amain(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
