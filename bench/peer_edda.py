"""The two throughput workloads run with the peer, edda-framework 0.16.2 from PyPI.

Runs inside ``bench/.peer-venv`` (made by ``peer_setup.py``) so edda's dependencies never touch the
project's venv; ``run_all.py`` starts it as a subprocess. Prints ``BENCH_RESULT {json}`` on stdout.

How edda-framework 0.16.2 is driven (read from its source, ``edda/app.py``, ``edda/workflow.py``,
``edda/replay.py``):

* ``EddaApp(service_name=..., db_url=...)`` then ``await app.initialize()`` (applies its migrations,
  starts its background loops, and on PostgreSQL its LISTEN/NOTIFY listener). URLs: ``sqlite:///FILE``
  (rewritten by edda to ``sqlite+aiosqlite``) and ``postgresql+asyncpg://...``.
* ``@workflow`` / ``@activity`` decorators; activities are called as ``await step(ctx, i)``.
* ``await wf.start(**kwargs)`` runs the workflow *inline*: ``ReplayEngine.start_workflow`` creates the
  instance, takes the instance lock, executes the workflow function and marks it completed before it
  returns the instance id. So completion needs no polling at all: when ``start()`` returns, the workflow
  (made only of activities) has finished. This is the fastest completion path edda has, and it is the one
  timed here; the stored status/result of every instance is checked *after* the timer stops.
* Workload (1): ``await wf.start(n=20)`` 30 times in a row. Workload (2): ``asyncio.gather`` of 500
  ``wf.start(n=5)``. One warm-up workflow runs before each timed window (outside it), so schema creation,
  definition upsert and pool warm-up are not counted.

Settings (edda defaults otherwise): pool_size=5, max_overflow=10 on PostgreSQL (edda's defaults),
LISTEN/NOTIFY auto-enabled on PostgreSQL. edda sets no SQLite pragmas itself (rollback journal,
synchronous=FULL); with ``--sqlite-pragmas same`` (the default) the benchmark applies the engine's own
pragmas, ``journal_mode=WAL`` and the ``--synchronous`` setting of the row being measured (``full``, the
engine's default, or ``normal``), to every edda connection through a SQLAlchemy ``connect`` event, so
both engines run on the same durability settings; ``--sqlite-pragmas stock`` leaves edda's defaults alone. ``--loop uvloop`` (the default) runs it on uvloop, as edda's docs recommend (edda
depends on uvloop); ``--loop asyncio`` uses the stock event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import Any

from bench_common import WorkloadResult, add_workload_args, conc_result, emit_result, ensure_loopback, log

try:
    import edda
    from edda import EddaApp, WorkflowContext, activity, workflow
except ImportError as exc:  # pragma: no cover - only outside the peer venv
    raise SystemExit(
        f"peer_edda.py must run inside bench/.peer-venv (run bench/peer_setup.py first): {exc}"
    ) from exc


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


def to_edda_url(url: str) -> str:
    """Translate the benchmark's URL into the SQLAlchemy URL edda expects."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        ensure_loopback(url)
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def apply_sqlite_pragmas(app: EddaApp, synchronous: str = "full") -> None:
    """Make every SQLite connection edda opens use WAL and ``synchronous`` (the engine's pragmas)."""
    from sqlalchemy import event

    @event.listens_for(app.storage.engine.sync_engine, "connect")
    def _set_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cur.close()


async def is_completed(app: EddaApp, instance_id: str, expected: int) -> bool:
    """Whether the stored instance completed with the expected result (checked after the timer)."""
    inst = await app.storage.get_instance(instance_id)
    out = (inst or {}).get("output_data") or {}
    if inst and inst.get("status") == "completed" and out.get("result") == expected:
        return True
    log(f"instance {instance_id} not completed as expected: {inst and inst.get('status')} {out}")
    return False


async def run_seq(app: EddaApp, runs: int, steps: int, timeout: float) -> WorkloadResult:
    """Workload (1): ``runs`` workflows of ``steps`` activities, one after the other."""
    await n_steps.start(n=steps)  # warm-up, not timed
    ids: list[str] = []

    async def body() -> None:
        for _ in range(runs):
            ids.append(await n_steps.start(n=steps))

    start = time.perf_counter()
    await asyncio.wait_for(body(), timeout)
    elapsed = time.perf_counter() - start
    bad = sum([not await is_completed(app, i, sum(range(steps))) for i in ids])
    if bad:
        raise RuntimeError(f"{bad} of {len(ids)} sequential edda workflows did not complete correctly")
    return WorkloadResult.from_timing("seq", runs, steps, elapsed)


async def run_conc(app: EddaApp, workflows: int, steps: int, timeout: float) -> WorkloadResult:
    """Workload (2): ``workflows`` workflows of ``steps`` activities, all started at once.

    edda 0.16.2 occasionally fails a few of these on SQLite: ``start()`` commits the new instance as
    ``running`` and only then takes its lock, and edda's own 1-second resume loop can grab such an
    unlocked instance in between and run it too, so one of the two executions dies on the history's
    unique key (or on "Failed to acquire lock"). Such failures are counted and reported, not hidden.
    """
    await n_steps.start(n=steps)  # warm-up, not timed

    async def one() -> tuple[float, str | BaseException]:
        try:
            instance_id = await n_steps.start(n=steps)
        except Exception as exc:
            return time.perf_counter(), exc
        return time.perf_counter(), instance_id

    start = time.perf_counter()
    outcomes = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(workflows))), timeout)
    ends: list[tuple[float, bool]] = []
    for end, outcome in outcomes:
        if isinstance(outcome, str):
            ends.append((end, await is_completed(app, outcome, sum(range(steps)))))
        else:
            log(f"edda start() raised {type(outcome).__name__}: {str(outcome)[:300]}")
            ends.append((end, False))
    return conc_result(steps, start, ends)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    """Run the requested workloads and return the result payload."""
    url = to_edda_url(args.db_url)
    app = EddaApp(service_name="bench", db_url=url)
    is_sqlite = url.startswith("sqlite")
    if is_sqlite and args.sqlite_pragmas == "same":
        apply_sqlite_pragmas(app, args.synchronous)
    await app.initialize()
    results: dict[str, Any] = {}
    try:
        if args.workload in ("seq", "all"):
            log(f"edda seq: {args.seq_runs} x {args.seq_steps} steps")
            results["seq"] = (await run_seq(app, args.seq_runs, args.seq_steps, args.wait_timeout)).as_dict()
            log(f"edda seq: {results['seq']['steps_per_s']} steps/s")
        if args.workload in ("conc", "all"):
            log(f"edda conc: {args.conc_workflows} x {args.conc_steps} steps")
            results["conc"] = (
                await run_conc(app, args.conc_workflows, args.conc_steps, args.wait_timeout)
            ).as_dict()
            log(f"edda conc: {results['conc']['workflows_per_s']} workflows/s")
    finally:
        await app.shutdown()
    settings = (
        "pool_size=5, max_overflow=10, LISTEN/NOTIFY on"
        if not is_sqlite
        else (
            f"journal_mode=WAL, synchronous={args.synchronous.upper()} (set by the benchmark)"
            if args.sqlite_pragmas == "same"
            else "edda stock: rollback journal, synchronous=FULL"
        )
    )
    return {
        "bench": "peer_edda",
        "engine": f"edda-framework {edda.__version__}",
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "settings": settings,
        "python": sys.version.split()[0],
        **results,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_workload_args(parser)
    parser.add_argument("--sqlite-pragmas", choices=["same", "stock"], default="same")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(amain(args))
    else:
        result = asyncio.run(amain(args))
    emit_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
