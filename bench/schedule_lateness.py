"""Schedule lateness: how late the instances of 1-second schedules start, on the real clock.

``--schedules`` schedules (10) of ``every=timedelta(seconds=1)`` run for ``--seconds`` s (20) in one app
(one process, the schedule loop and the dispatcher of a normal worker). For every tick:

* *fire lateness* = the instance's ``created_at`` (written by the schedule loop in the transaction that
  fires the tick) minus the tick time: what the schedule loop adds;
* *start lateness* = wall-clock time when the workflow body began (``time.time()`` in the body, first
  run only) minus the tick time: that plus claiming and starting the run.

Ticks of the first ``--warmup`` s (2) are left out. Schedules use ``overlap="allow"`` and no jitter, so
every tick starts. Prints a table and ``BENCH_RESULT {json}``.

Usage::

    .venv/bin/python bench/schedule_lateness.py --db sqlite              # a temporary SQLite file
    .venv/bin/python bench/schedule_lateness.py --db postgresql          # CREATE/DROP DATABASE on
        # EDDA_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from durable_core import Catalog, EddaApp, WorkflowContext, workflow  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(samples_s: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def tick_of(instance_id: str) -> datetime:
    return datetime.fromisoformat(instance_id.split("@", 1)[1].replace("Z", "+00:00"))


async def pg_admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def measure(db_url: str, schedules: int, seconds: float, warmup: float) -> dict[str, Any]:
    catalog = Catalog()
    began: dict[str, float] = {}

    @workflow(catalog=catalog)
    async def bench_tick(ctx: WorkflowContext) -> None:
        began.setdefault(ctx.instance_id, time.time())

    async with EddaApp(db_url, "bench", workflows=list(catalog)) as app:
        for k in range(schedules):
            await app.schedules.create(f"s{k}", bench_tick, every=timedelta(seconds=1), overlap="allow")
        t0 = datetime.now(UTC)
        await asyncio.sleep(seconds)
        for k in range(schedules):
            await app.schedules.pause(f"s{k}")
        await asyncio.sleep(1.0)  # let the last started runs begin
        records = [r for r in await app.list_instances(limit=1000) if "@" in r.instance_id]
    measured = [r for r in records if tick_of(r.instance_id) >= t0 + timedelta(seconds=warmup)]
    fire = [(r.created_at - tick_of(r.instance_id)).total_seconds() for r in measured]
    start = [
        began[r.instance_id] - tick_of(r.instance_id).timestamp() for r in measured if r.instance_id in began
    ]
    expected = schedules * int(seconds - warmup)
    return {
        "ticks": len(measured),
        "ticks_expected_about": expected,
        "fire_lateness": summary(fire),
        "start_lateness": summary(start),
        "early": sum(1 for v in fire if v < 0),
    }


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            result = await measure(
                f"sqlite:///{Path(tmp) / 'sched.db'}", args.schedules, args.seconds, args.warmup
            )
    else:
        base = os.environ.get("EDDA_BENCH_POSTGRES_URL", PG_DEFAULT)
        name = f"edda_bench_{secrets.token_hex(4)}"
        await pg_admin(base, f"CREATE DATABASE {name}")
        try:
            url = base.rsplit("/", 1)[0] + "/" + name
            result = await measure(url, args.schedules, args.seconds, args.warmup)
        finally:
            await pg_admin(base, f"DROP DATABASE {name} WITH (FORCE)")
    return {"bench": "schedule_lateness", "db": args.db, "schedules": args.schedules, **result}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--schedules", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    result = asyncio.run(amain(args))
    for key in ("fire_lateness", "start_lateness"):
        s = result[key]
        print(
            f"{args.db:<10} {key:<15} n={s['n']:<4} p50 {s['p50_ms']:>7} ms  p99 {s['p99_ms']:>7} ms  max {s['max_ms']:>7} ms"
        )
    print("BENCH_RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
