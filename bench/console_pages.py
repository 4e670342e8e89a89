"""Console page server time over a large database (list and detail pages, p50/p99).

Bulk-inserts ``--rows`` instances (default 1,000,000: 10 workflows, a realistic status mix, creation
times over 30 days, a JSON input with a ``customer`` field) directly with SQLAlchemy Core, plus one
instance with a 60-entry history, then times requests to the console app in-process (httpx's ASGI
transport: the server's time, no network) and prints p50/p99 per page, and the query plan of the list
query.

    .venv/bin/python bench/console_pages.py --backend sqlite
    .venv/bin/python bench/console_pages.py --backend postgresql   # EDDA_BENCH_POSTGRES_URL, loopback only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.run_all import _pg_admin, with_database
from durable_core import EddaApp
from durable_core.storage.schema import HISTORY, INSTANCES
from durable_core.storage.urls import normalize_url
from edda_mcp.console import console_app

STATUSES = ["completed"] * 80 + ["failed"] * 5 + ["waiting"] * 10 + ["cancelled"] * 3 + ["running"] * 2
NOW = datetime.now(UTC).replace(microsecond=0)
DETAIL = "detail-instance-with-history"


def _row(i: int, rng: random.Random) -> dict[str, Any]:
    status = rng.choice(STATUSES)
    created = NOW - timedelta(seconds=rng.randrange(30 * 24 * 3600))
    finished = (
        created + timedelta(seconds=rng.randrange(1, 600)) if status in ("completed", "failed") else None
    )
    return {
        "instance_id": f"{uuid.UUID(int=rng.getrandbits(128)).hex}",
        "workflow_name": f"workflow_{i % 10}",
        "service_name": "bench",
        "status": status,
        "input_encoding": "json",
        "input_json": {"customer": f"c{i % 5000}", "amount": i % 997},
        "input_blob": None,
        "input_hash": "h",
        "output_encoding": "none",
        "output_json": None,
        "output_blob": None,
        "error": None,
        "created_at": created,
        "updated_at": finished or created,
        "finished_at": finished,
        "lease_epoch": 1,
        "cancel_requested": False,
        "crash_count": 0,
    }


async def populate(url: str, rows: int) -> str:
    """Create the schema, insert ``rows`` instances and one with a long history; return that one's id."""
    async with EddaApp(url, workflows=[], run_workers=False):
        pass  # migrations
    engine = create_async_engine(normalize_url(url))
    rng = random.Random(7)
    started = time.perf_counter()
    batch = 20_000
    async with engine.begin() as conn:
        for first in range(0, rows, batch):
            await conn.execute(
                insert(INSTANCES), [_row(i, rng) for i in range(first, min(rows, first + batch))]
            )
    detail = DETAIL
    values = _row(0, rng) | {
        "instance_id": detail,
        "status": "completed",
        "finished_at": NOW,
        "updated_at": NOW,
    }
    history = [
        {"instance_id": detail, "position": p, "kind": "activity", "name": f"step_{p}", "args_hash": "h",
         "outcome": "ok", "result_encoding": "json", "result_json": {"n": p, "text": "x" * 200},
         "result_blob": None, "error": None, "retry": None, "recorded_at": NOW - timedelta(seconds=60 - p)}
        for p in range(60)
    ]  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(insert(INSTANCES), [values])
        await conn.execute(insert(HISTORY), history)
    if url.startswith("postgresql"):  # as autovacuum would (the engine never runs ANALYZE on SQLite):
        # statistics, and the visibility map that makes index-only scans (the metrics counts) pay off
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
    await engine.dispose()
    print(f"inserted {rows:,} instances in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return detail


async def plans(url: str) -> None:
    """Print the plans of the list query (first page, by status, by workflow) and of the metrics counts."""
    engine = create_async_engine(normalize_url(url))
    pg = url.startswith("postgresql")
    explain = "EXPLAIN" if pg else "EXPLAIN QUERY PLAN"
    queries = {
        "first page": "SELECT instance_id FROM edda_instances ORDER BY created_at DESC, instance_id DESC LIMIT 51",
        "status=failed": "SELECT instance_id FROM edda_instances WHERE status = 'failed' "
        "ORDER BY created_at DESC, instance_id DESC LIMIT 51",
        "workflow": "SELECT instance_id FROM edda_instances WHERE workflow_name = 'workflow_3' "
        "ORDER BY created_at DESC, instance_id DESC LIMIT 51",
        # the edda_instances{workflow,status} gauge: an index-only scan of the v13 covering index
        "metrics counts": "SELECT workflow_name, status, count(*) FROM edda_instances "
        "GROUP BY workflow_name, status ORDER BY workflow_name, status",
    }
    async with engine.connect() as conn:
        for name, sql in queries.items():
            rows = (await conn.execute(text(f"{explain} {sql}"))).all()
            print(f"  plan [{name}]: " + " | ".join(str(r[-1]) for r in rows))
    await engine.dispose()


async def measure(url: str, detail: str, samples: int) -> dict[str, tuple[float, float]]:
    """p50/p99 milliseconds per page."""
    app = console_app(url, read_only=True)
    results: dict[str, tuple[float, float]] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            first = (await client.get("/instances")).text
            cursor = _next(first)
            deep = await _deep_cursor(client, cursor, hops=200)
            pages = {
                "list: first page": "/instances",
                "list: status=failed": "/instances?status=failed",
                "list: workflow + since": "/instances?workflow=workflow_3&since=" + quote((NOW - timedelta(days=3)).isoformat()),
                "list: page 201 (keyset)": deep,
                "list: id prefix": "/instances?q=abc",
                "detail (60 steps)": f"/instances/{detail}",
                "queues": "/queues",
                "schedules": "/schedules",
                "metrics (counts)": "/metrics",
            }  # fmt: skip
            for name, path in pages.items():
                times = []
                for _ in range(samples):
                    t0 = time.perf_counter()
                    response = await client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                times.sort()
                results[name] = (statistics.median(times), times[int(len(times) * 0.99) - 1])
    return results


def _next(page: str) -> str:
    found = re.search(r'href="([^"]+)" id="next-page"', page)
    assert found, "no next page"
    return found.group(1).replace("&amp;", "&")


async def _deep_cursor(client: httpx.AsyncClient, path: str, hops: int) -> str:
    for _ in range(hops):
        page = (await client.get(path)).text
        path = _next(page)
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--existing", metavar="URL", help="measure a database this script populated before")
    args = parser.parse_args()
    if args.existing:
        await plans(args.existing)
        report(args.backend, args.rows, args.samples, await measure(args.existing, DETAIL, args.samples))
        return
    with tempfile.TemporaryDirectory(prefix="edda_bench_") as tmp:
        dbname = None
        admin = os.environ.get("EDDA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        if args.backend == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'console.db'}"
        else:
            dbname = f"edda_bench_{uuid.uuid4().hex[:12]}"
            await _pg_admin(admin, f'CREATE DATABASE "{dbname}"')
            url = with_database(admin, dbname)
        try:
            detail = await populate(url, args.rows)
            await plans(url)
            results = await measure(url, detail, args.samples)
        finally:
            if dbname:
                await _pg_admin(admin, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    report(args.backend, args.rows, args.samples, results)


def report(backend: str, rows: int, samples: int, results: dict[str, tuple[float, float]]) -> None:
    """Print the p50/p99 table."""
    print(f"\n{backend}, {rows:,} instances, {samples} requests per page")
    print(f"{'page':28} {'p50 ms':>8} {'p99 ms':>8}")
    for name, (p50, p99) in results.items():
        print(f"{name:28} {p50:8.1f} {p99:8.1f}")


if __name__ == "__main__":
    asyncio.run(main())
