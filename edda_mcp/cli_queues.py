"""``edda-mcp queues list``: every queue stored in a database, with its depth, running runs and backlog."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any, TextIO

from durable_core import QueueStats, RateLimit
from edda_mcp.admin import client_app
from edda_mcp.cli_support import add_db_argument, db_url


def add_parser(sub: Any) -> None:
    """Register ``queues list`` on the ``edda-mcp`` sub-command parsers."""
    queues = sub.add_parser("queues", help="list the queues stored in a database")
    qsub = queues.add_subparsers(dest="action", required=True)
    listing = qsub.add_parser("list", help="settings, depth, running runs and per-key backlog of each queue")
    add_db_argument(listing)
    listing.add_argument("--keys", action="store_true", help="also show the backlog of each queue key")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``queues list``."""
    stats = asyncio.run(_stats(db_url(args)))
    if args.json:
        out.write(json.dumps([_as_json(q) for q in stats], indent=2) + "\n")
        return 0
    if not stats:
        out.write("no queues\n")
        return 0
    out.write(
        f"{'QUEUE':<24} {'CONCURRENCY':>11} {'PER KEY':>7} {'RATE':>12} {'DEPTH':>7} {'QUEUED':>7} {'RUNNING':>7}\n"
    )
    for q in stats:
        out.write(
            f"{q.name:<24} {_limit(q.concurrency):>11} {_limit(q.per_key_concurrency):>7} "
            f"{_rate(q.rate_limit):>12} {q.depth:>7} {q.queued:>7} {q.running:>7}\n"
        )
        if args.keys:
            for key in q.keys:
                out.write(
                    f"  key {key.key or '(none)':<20} depth {key.depth:>6}  queued {key.queued:>6}  running {key.running:>4}\n"
                )
    return 0


async def _stats(db_url: str) -> list[QueueStats]:
    async with client_app(db_url) as app:
        return await app.queue_stats()


def _limit(value: int | None) -> str:
    return "-" if value is None else str(value)


def _rate(limit: RateLimit | None) -> str:
    if limit is None:
        return "-"
    return f"{limit.count}/{limit.per.total_seconds():g}s"


def _as_json(q: QueueStats) -> dict[str, Any]:
    rate = (
        None
        if q.rate_limit is None
        else {
            "count": q.rate_limit.count,
            "per_seconds": q.rate_limit.per.total_seconds(),
            "burst": q.rate_limit.burst,
        }
    )
    return {
        "name": q.name,
        "concurrency": q.concurrency,
        "per_key_concurrency": q.per_key_concurrency,
        "rate_limit": rate,
        "depth": q.depth,
        "queued": q.queued,
        "running": q.running,
        "keys": [{"key": k.key, "depth": k.depth, "queued": k.queued, "running": k.running} for k in q.keys],
    }
