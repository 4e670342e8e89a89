"""Queue overhead and rate-limit accuracy, on SQLite, PostgreSQL and MySQL.

1. Throughput: ``--workflows`` (2,000) one-activity workflows, all stored first by a client-only app,
   then run by one worker app with ``max_concurrent_runs=50``: once without a queue, once through
   ``Queue("bench", concurrency=50)``. Overhead = queued time / plain time - 1 (target <= 15 %).
2. Rate accuracy: ``--rate-starts`` (300) instances of a queue with ``RateLimit(--rate, per=1 s)``
   (50/s); achieved = (starts - 1) / (last admission - first admission), from the admission times the
   database recorded; accuracy = achieved / configured (target within 2 %). Also reports the most
   starts seen in any 1 s window (must not exceed the limit).
3. Activity rate accuracy: ``--rate-starts`` workflows (plain, no queue; stored first, then run by one
   worker app) each call one activity with
   ``@activity(rate_limit="api")`` and ``RateLimit(--rate, per=1 s)``; the time each call began is
   recorded in the activity. Runs without a grant park durably and wake at the next grant, so this
   measures the shared limiter plus timer wake-ups. Same accuracy and window figures.

Usage::

    .venv/bin/python bench/queues.py                       # SQLite, then PostgreSQL
    .venv/bin/python bench/queues.py --only sqlite --workflows 500
    .venv/bin/python bench/queues.py --only mysql --rate-only

PostgreSQL: ``EDDA_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``), MySQL:
``EDDA_BENCH_MYSQL_URL`` (default ``mysql://root@127.0.0.1:3306/test``) are used to create a fresh
``edda_bench_<hex>`` database per measurement (dropped afterwards). Prints a table and
``BENCH_RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from durable_core import Catalog, EddaApp, Queue, RateLimit, WorkflowContext, activity, workflow

CATALOG = Catalog()
API_CATALOG = Catalog()
SERVERS = {
    "postgresql": ("EDDA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": ("EDDA_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}
CALLED: dict[int, float] = {}  # activity rate run: n -> wall time the call began (first attempt)


@activity
async def bench_step(ctx: WorkflowContext, n: int) -> int:
    return n


@workflow(catalog=CATALOG)
async def bench_flow(ctx: WorkflowContext, n: int) -> int:
    return await bench_step(ctx, n)


@activity(rate_limit="api")
async def api_call(ctx: WorkflowContext, n: int) -> int:
    CALLED.setdefault(n, time.time())
    return n


@workflow(catalog=API_CATALOG)
async def api_flow(ctx: WorkflowContext, n: int) -> int:
    return await api_call(ctx, n)


async def _admin(admin: str, sql: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from durable_core.storage.urls import normalize_url

    engine = create_async_engine(normalize_url(admin), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@asynccontextmanager
async def fresh_db(target: str, tmp: str) -> AsyncIterator[str]:
    if target == "sqlite":
        yield f"sqlite:///{Path(tmp) / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    env, default = SERVERS[target]
    admin = os.environ.get(env, default)
    if urlsplit(admin).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"{env} must point at a loopback host")
    name = f"edda_bench_{uuid.uuid4().hex[:12]}"
    create = f"CREATE DATABASE {name}" + (
        " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" if target == "mysql" else ""
    )
    await _admin(admin, create)
    parts = urlsplit(admin)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    finally:
        force = " WITH (FORCE)" if target == "postgresql" else ""
        await _admin(admin, f"DROP DATABASE IF EXISTS {name}{force}")


def accuracy(admitted: list[datetime], rate: int) -> dict[str, Any]:
    """Achieved rate ((n - 1) intervals over first..last), accuracy and the most in any 1 s window.

    ``period_accuracy``: starts within the whole seconds after the first one / (seconds * rate).
    """
    admitted = sorted(admitted)
    achieved = (len(admitted) - 1) / (admitted[-1] - admitted[0]).total_seconds()
    most, lo = 0, 0
    for hi, t in enumerate(admitted):
        while admitted[lo] <= t - timedelta(seconds=1):
            lo += 1
        most = max(most, hi - lo + 1)
    # the same over whole periods from the first start (insensitive to where the last burst falls)
    periods = int((admitted[-1] - admitted[0]).total_seconds())
    in_periods = sum(1 for t in admitted if t < admitted[0] + timedelta(seconds=periods))
    return {
        "configured": rate,
        "achieved": round(achieved, 3),
        "accuracy": round(achieved / rate, 4),
        "whole_periods": periods,
        "period_accuracy": round(in_periods / (periods * rate), 4) if periods else None,
        "max_in_1s": most,
    }


async def run_batch(url: str, workflows: int, queues: list[Queue], queue: str | None) -> float:
    """Seconds for one worker app to run ``workflows`` instances stored beforehand."""
    async with EddaApp(url, workflows=list(CATALOG), queues=queues, run_workers=False) as client:
        start = bench_flow.with_options(app=client, queue=queue)
        ids = [await start.start(n=i) for i in range(workflows)]
    t0 = time.perf_counter()
    async with EddaApp(
        url, workflows=list(CATALOG), queues=queues, max_concurrent_runs=50, poll_interval=0.1
    ) as app:
        await asyncio.gather(*(app.wait_result(i, timeout=600) for i in ids))
        return time.perf_counter() - t0


async def rate_accuracy(url: str, starts: int, rate: int) -> dict[str, Any]:
    queues = [Queue("paced", rate_limit=RateLimit(rate, per=timedelta(seconds=1)))]
    async with EddaApp(url, workflows=list(CATALOG), queues=queues, run_workers=False) as client:
        ids = [await bench_flow.with_options(app=client, queue="paced").start(n=i) for i in range(starts)]
    async with EddaApp(url, workflows=list(CATALOG), queues=queues, poll_interval=0.1) as app:
        await asyncio.gather(*(app.wait_result(i, timeout=600) for i in ids))
        admitted = await app.queue_admissions("paced")
    return accuracy(admitted, rate)


async def activity_rate_accuracy(url: str, calls: int, rate: int) -> dict[str, Any]:
    """``calls`` runs (stored first), one rate-limited activity each; when each call began."""
    CALLED.clear()
    limits = {"api": RateLimit(rate, per=timedelta(seconds=1))}
    wfs = list(API_CATALOG)
    async with EddaApp(url, workflows=wfs, rate_limits=limits, run_workers=False) as client:
        ids = [await api_flow.with_options(app=client).start(n=i) for i in range(calls)]
    async with EddaApp(url, workflows=wfs, rate_limits=limits, poll_interval=0.1) as app:
        await asyncio.gather(*(app.wait_result(i, timeout=600) for i in ids))
    return accuracy([datetime.fromtimestamp(t, UTC) for t in CALLED.values()], rate)


async def measure(target: str, args: argparse.Namespace) -> dict[str, Any]:
    plain = queued = float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.rate_only:
            async with fresh_db(target, tmp) as url:
                plain = await run_batch(url, args.workflows, [], None)
            async with fresh_db(target, tmp) as url:
                queued = await run_batch(url, args.workflows, [Queue("bench", concurrency=50)], "bench")
        async with fresh_db(target, tmp) as url:
            rate = await rate_accuracy(url, args.rate_starts, args.rate)
        async with fresh_db(target, tmp) as url:
            api = await activity_rate_accuracy(url, args.rate_starts, args.rate)
    return {
        "target": target,
        "workflows": args.workflows,
        "plain_s": round(plain, 3),
        "queued_s": round(queued, 3),
        "overhead": round(queued / plain - 1, 4),
        "rate": rate,
        "activity_rate": api,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sqlite", "postgresql", "mysql"])
    parser.add_argument("--workflows", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--rate-starts", type=int, default=300)
    parser.add_argument("--rate-only", action="store_true", help="skip the throughput comparison")
    args = parser.parse_args()
    targets = [args.only] if args.only else ["sqlite", "postgresql", "mysql"]
    results = [asyncio.run(measure(t, args)) for t in targets]
    print(
        f"{'target':<11} {'plain s':>8} {'queue s':>8} {'overhead':>9} {'rate/s':>7} {'achieved':>9} {'accuracy':>9} {'per-period':>10} {'max/1s':>7}"
    )
    for r in results:
        rate, api = r["rate"], r["activity_rate"]
        print(
            f"{r['target']:<11} {r['plain_s']:>8.2f} {r['queued_s']:>8.2f} {r['overhead']:>+9.1%} "
            f"{rate['configured']:>7} {rate['achieved']:>9.2f} {rate['accuracy']:>9.2%} {rate['period_accuracy'] or 0:>10.2%} {rate['max_in_1s']:>7}"
        )
        print(
            f"{'  activity':<11} {'':>8} {'':>8} {'':>9} "
            f"{api['configured']:>7} {api['achieved']:>9.2f} {api['accuracy']:>9.2%} {api['period_accuracy'] or 0:>10.2%} {api['max_in_1s']:>7}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min)")
    print("BENCH_RESULT " + json.dumps(results), file=sys.stdout)


if __name__ == "__main__":
    main()
