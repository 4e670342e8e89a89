"""The two throughput workloads run with the second peer, DBOS Transact 3.x from PyPI (``dbos``).

Runs inside ``bench/.peer-venv-dbos`` (made by ``peer_setup.py --peer dbos``) so DBOS's dependencies
never touch the project's venv; ``run_all.py`` starts it as a subprocess. Prints ``BENCH_RESULT {json}``.

How DBOS Transact is driven (read from its source, ``dbos/_dbos.py``, ``dbos/_core.py``,
``dbos/_sys_db_sqlite.py``):

* ``DBOS(config={"name": ..., "system_database_url": URL})``, ``DBOS.launch()``, ``DBOS.destroy()``. The
  system database holds every workflow's status, inputs, outputs and step results; on SQLite DBOS uses
  SQLAlchemy's ``pysqlite`` driver in threads, ``BEGIN IMMEDIATE`` transactions, and sets no journal or
  synchronous pragma (so: rollback journal, ``synchronous=FULL``).
* ``@DBOS.step()`` on ``async def step(i)``, ``@DBOS.workflow()`` on ``async def n_steps(n)``: each step
  result is one write to the system database before the workflow goes on, like ours.
* Workload (1): ``await n_steps(20)`` 30 times in a row. Calling a workflow function runs it as a durable
  workflow inline (the status row is written first, the result last), DBOS's fastest completion path.
  Workload (2): ``asyncio.gather`` of 500 ``n_steps(5)`` calls (``--start handle`` uses
  ``DBOS.start_workflow_async`` + ``get_result()`` instead; measured slower).
* Every result is checked. One warm-up workflow runs before each timed window.
* ``--sqlite-pragmas same`` (the default) gives every SQLite connection of the process WAL and the
  ``--synchronous`` setting of the row being measured (a class-level SQLAlchemy ``connect`` listener, so
  DBOS's own listener, ``IMMEDIATE`` + busy timeout, still runs); ``stock`` leaves DBOS's defaults.
* No Conductor key is given and ``DBOS__*`` variables are removed from the environment, so DBOS opens no
  connection anywhere but the database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from typing import Any

from bench_common import WorkloadResult, add_workload_args, conc_result, emit_result, ensure_loopback, log

try:
    import sqlalchemy
    from dbos import DBOS, DBOSConfig
except ImportError as exc:  # pragma: no cover - only outside the peer venv
    raise SystemExit(
        f"peer_dbos.py must run inside bench/.peer-venv-dbos (bench/peer_setup.py --peer dbos): {exc}"
    ) from exc

from importlib.metadata import version as dist_version


@DBOS.step()
async def step(i: int) -> int:
    """A trivial step."""
    return i


@DBOS.workflow()
async def n_steps(n: int) -> int:
    """Run ``n`` trivial steps in sequence and return the sum of their results."""
    total = 0
    for i in range(n):
        total += await step(i)
    return total


async def run_one(n: int, start: str) -> int:
    """One workflow to completion: called inline, or started and awaited through its handle."""
    if start == "inline":
        return await n_steps(n)
    handle = await DBOS.start_workflow_async(n_steps, n)
    return await handle.get_result()


def apply_sqlite_pragmas(synchronous: str) -> None:
    """Give every SQLite connection WAL and ``synchronous`` (the settings of the row being measured)."""
    from sqlalchemy import event

    def set_pragmas(dbapi_conn: Any, _record: Any) -> None:
        if type(dbapi_conn).__module__.startswith("sqlite3"):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cur.close()

    event.listen(sqlalchemy.engine.Engine, "connect", set_pragmas)


async def run_seq(runs: int, steps: int, timeout: float, start: str) -> WorkloadResult:
    """Workload (1): ``runs`` workflows of ``steps`` steps, one after the other."""
    expected = sum(range(steps))
    await run_one(steps, start)  # warm-up, not timed

    async def body() -> None:
        for _ in range(runs):
            got = await run_one(steps, start)
            if got != expected:
                raise RuntimeError(f"workflow returned {got!r}, expected {expected!r}")

    began = time.perf_counter()
    await asyncio.wait_for(body(), timeout)
    return WorkloadResult.from_timing("seq", runs, steps, time.perf_counter() - began)


async def run_conc(workflows: int, steps: int, timeout: float, start: str) -> WorkloadResult:
    """Workload (2): ``workflows`` workflows of ``steps`` steps, all started at once."""
    expected = sum(range(steps))
    await run_one(steps, start)  # warm-up, not timed

    async def one() -> tuple[float, bool]:
        try:
            got = await run_one(steps, start)
        except Exception as exc:
            log(f"dbos workflow raised {type(exc).__name__}: {str(exc)[:300]}")
            return time.perf_counter(), False
        return time.perf_counter(), got == expected

    began = time.perf_counter()
    ends = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(workflows))), timeout)
    return conc_result(steps, began, ends)


def system_database_url(url: str) -> str:
    """The benchmark's URL as DBOS expects it (PostgreSQL: psycopg 3 driver, loopback only)."""
    if url.startswith(("postgresql://", "postgres://")):
        ensure_loopback(url)
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    """Run the requested workloads and return the result payload."""
    url = system_database_url(args.db_url)
    is_sqlite = url.startswith("sqlite")
    if is_sqlite and args.sqlite_pragmas == "same":
        apply_sqlite_pragmas(args.synchronous)
    config: DBOSConfig = {"name": "bench", "system_database_url": url, "log_level": "WARNING"}
    DBOS(config=config)
    DBOS.launch()
    results: dict[str, Any] = {}
    try:
        if args.workload in ("seq", "all"):
            log(f"dbos seq: {args.seq_runs} x {args.seq_steps} steps ({args.start})")
            results["seq"] = (
                await run_seq(args.seq_runs, args.seq_steps, args.wait_timeout, args.start)
            ).as_dict()
            log(f"dbos seq: {results['seq']['steps_per_s']} steps/s")
        if args.workload in ("conc", "all"):
            log(f"dbos conc: {args.conc_workflows} x {args.conc_steps} steps ({args.start})")
            results["conc"] = (
                await run_conc(args.conc_workflows, args.conc_steps, args.wait_timeout, args.start)
            ).as_dict()
            log(f"dbos conc: {results['conc']['workflows_per_s']} workflows/s")
    finally:
        DBOS.destroy()
    if not is_sqlite:
        settings = "system database on PostgreSQL (psycopg 3), DBOS defaults"
    elif args.sqlite_pragmas == "same":
        settings = f"journal_mode=WAL, synchronous={args.synchronous.upper()} (set by the benchmark)"
    else:
        settings = "DBOS stock: rollback journal, synchronous=FULL"
    return {
        "bench": "peer_dbos",
        "engine": f"DBOS Transact {dist_version('dbos')}",
        "start": args.start,
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
    parser.add_argument("--start", choices=["inline", "handle"], default="inline")
    args = parser.parse_args(argv)
    for name in [k for k in os.environ if k.startswith("DBOS")]:
        del os.environ[name]  # no Conductor, no cloud mode: talk to the database only
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    emit_result(asyncio.run(amain(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
