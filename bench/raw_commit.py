"""Raw commit-rate baseline: one single-row INSERT per transaction, as fast as the driver allows.

This is the floor that a durable step is measured against (DESIGN.md section 8): a durable step costs one
transaction, so steps/s can at best approach this rate.

* SQLite through ``aiosqlite`` with the same pragmas the engine uses: ``journal_mode=WAL`` and
  ``synchronous=FULL`` (the engine's default; every commit fsyncs the WAL) or, with
  ``--synchronous normal``, ``synchronous=NORMAL`` (no fsync per commit). A durable step is compared
  with the floor of the same setting.
* PostgreSQL through ``asyncpg`` directly.

Each variant is timed in several short windows and the median window rate is reported. Each database
is measured in two ways of committing one row; the faster one is reported as
``commits_per_s`` (the floor):

* SQLite ``insert+commit``: ``await db.execute(INSERT)`` then ``await db.commit()`` (sqlite3's implicit
  ``BEGIN``); ``autocommit``: ``isolation_level=None``, so the single INSERT is its own transaction.
* PostgreSQL ``autocommit``: ``await conn.execute(INSERT, ...)`` outside a transaction block (one round
  trip, committed by the server); ``begin+insert+commit``: ``async with conn.transaction()`` around it.

Usage::

    .venv/bin/python bench/raw_commit.py --sqlite /tmp/x.db [--synchronous full|normal] [--seconds 3]
    .venv/bin/python bench/raw_commit.py --postgres postgresql://postgres@127.0.0.1:5432/scratch

Prints a ``BENCH_RESULT {json}`` line on stdout (see ``bench_common``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench_common import emit_result, ensure_loopback, log

PAYLOAD = '{"result": 12345, "activity": "step:1", "kind": "ActivityCompleted"}'
WARMUP_ROWS = 50


async def _timed_loop(
    insert_one: Callable[[int], Awaitable[None]], seconds: float, windows: int, max_rows: int
) -> dict[str, Any]:
    """Call ``insert_one`` for ``seconds`` split into ``windows`` windows; report the median window rate.

    The median of several short windows is robust against other processes briefly taking the CPU.
    """
    for i in range(WARMUP_ROWS):
        await insert_one(-1 - i)
    rates: list[float] = []
    total = 0
    total_elapsed = 0.0
    per_window = seconds / windows
    for _ in range(windows):
        n = 0
        start = time.perf_counter()
        deadline = start + per_window
        while n < max_rows:
            await insert_one(total + n)
            n += 1
            if (n & 15) == 0 and time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - start
        rates.append(n / elapsed)
        total += n
        total_elapsed += elapsed
    return {
        "commits": total,
        "elapsed_s": round(total_elapsed, 4),
        "commits_per_s": round(statistics.median(rates), 1),
        "window_rates": [round(r, 1) for r in rates],
    }


async def bench_sqlite(
    path: str, seconds: float, windows: int, max_rows: int, synchronous: str = "full"
) -> dict[str, Any]:
    """Measure single-row commit rates on a SQLite file (WAL, the given ``synchronous``) via aiosqlite."""
    import aiosqlite

    variants: dict[str, Any] = {}
    for name, isolation in (("insert+commit", ""), ("autocommit", None)):
        async with aiosqlite.connect(path, isolation_level=isolation) as db:
            mode = await (await db.execute("PRAGMA journal_mode=WAL")).fetchone()
            await db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            table = "raw_" + name.replace("+", "_")
            await db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, k INTEGER, payload TEXT)")
            await db.commit()
            sql = f"INSERT INTO {table} (k, payload) VALUES (?, ?)"
            if isolation is None:

                async def insert_one(k: int, db: aiosqlite.Connection = db, sql: str = sql) -> None:
                    await db.execute(sql, (k, PAYLOAD))

            else:

                async def insert_one(k: int, db: aiosqlite.Connection = db, sql: str = sql) -> None:
                    await db.execute(sql, (k, PAYLOAD))
                    await db.commit()

            res = await _timed_loop(insert_one, seconds, windows, max_rows)
            res["journal_mode"] = mode[0] if mode else None
            variants[name] = res
            log(f"sqlite raw {name}: {res['commits_per_s']:.0f} commits/s")
    sqlite_version = aiosqlite.sqlite_version
    best = max(variants, key=lambda k: variants[k]["commits_per_s"])
    return {
        "db": "sqlite",
        "driver": f"aiosqlite {aiosqlite.__version__} (SQLite {sqlite_version})",
        "settings": f"journal_mode=WAL, synchronous={synchronous.upper()}",
        "synchronous": synchronous,
        "variants": variants,
        "best_variant": best,
        "commits_per_s": variants[best]["commits_per_s"],
    }


async def bench_postgres(url: str, seconds: float, windows: int, max_rows: int) -> dict[str, Any]:
    """Measure single-row commit rates on PostgreSQL via asyncpg."""
    import asyncpg

    ensure_loopback(url)
    conn = await asyncpg.connect(url)
    try:
        settings = {}
        for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
            settings[name] = await conn.fetchval(f"SHOW {name}")
        variants: dict[str, Any] = {}
        for name in ("autocommit", "begin+insert+commit"):
            table = "raw_" + name.replace("+", "_")
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
            await conn.execute(f"CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, k INTEGER, payload TEXT)")
            sql = f"INSERT INTO {table} (k, payload) VALUES ($1, $2)"
            if name == "autocommit":

                async def insert_one(k: int, sql: str = sql) -> None:
                    await conn.execute(sql, k, PAYLOAD)

            else:

                async def insert_one(k: int, sql: str = sql) -> None:
                    async with conn.transaction():
                        await conn.execute(sql, k, PAYLOAD)

            res = await _timed_loop(insert_one, seconds, windows, max_rows)
            variants[name] = res
            log(f"postgresql raw {name}: {res['commits_per_s']:.0f} commits/s")
            await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    best = max(variants, key=lambda k: variants[k]["commits_per_s"])
    return {
        "db": "postgresql",
        "driver": f"asyncpg {asyncpg.__version__}",
        "settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
        "variants": variants,
        "best_variant": best,
        "commits_per_s": variants[best]["commits_per_s"],
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--sqlite", metavar="FILE", help="SQLite database file to create")
    target.add_argument("--postgres", metavar="URL", help="asyncpg URL of a scratch database")
    parser.add_argument(
        "--synchronous", choices=["full", "normal"], default="full", help="SQLite only: PRAGMA synchronous"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per variant")
    parser.add_argument("--windows", type=int, default=5, help="measuring windows per variant (median wins)")
    parser.add_argument("--max-rows", type=int, default=1_000_000, help="stop a variant after this many rows")
    args = parser.parse_args(argv)
    if args.sqlite:
        result = asyncio.run(
            bench_sqlite(args.sqlite, args.seconds, args.windows, args.max_rows, args.synchronous)
        )
    else:
        result = asyncio.run(bench_postgres(args.postgres, args.seconds, args.windows, args.max_rows))
    result["bench"] = "raw_commit"
    result["python"] = sys.version.split()[0]
    emit_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
