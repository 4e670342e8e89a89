"""Durable output streams: chunk write cost, and end-to-end token latency from writer to MCP client.

(1) Write cost, in process: one activity writes N chunks with ``ctx.stream(...).write()`` (batched: stored
every 50 ms or 64 chunks and at the end of the attempt) and M chunks with a ``flush()`` after each (one
transaction per chunk, the worst case). Reported per chunk, beside a step that writes nothing.
(2) Token latency: ``edda-mcp serve bench/stream_bench_server.py:server`` over streamable HTTP on
127.0.0.1; the MCP client (``mcp.Client``) calls the ``emit`` tool with a progress callback while the
activity writes a timestamped chunk every 5 ms; latency = arrival of the progress notification minus the
write, p50/p99, with batching and with a flush per chunk.

Prints a table, then one ``BENCH_RESULT {json}`` line.
Run: .venv/bin/python bench/streams.py [--db URL] [--quick]   (default: a temporary SQLite file)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import Client
from mcp_roundtrip import http_server

from durable_core import Catalog, EddaApp, WorkflowContext, activity, workflow

HERE = Path(__file__).resolve().parent
CATALOG = Catalog()


@activity
async def write_chunks(ctx: WorkflowContext, count: int, flush_each: bool) -> float:
    start = time.perf_counter()
    out = ctx.stream("tokens")
    for i in range(count):
        out.write(f"token {i}")
        if flush_each:
            await out.flush()
    await out.flush()
    return time.perf_counter() - start


@activity
async def nothing(ctx: WorkflowContext) -> float:
    return 0.0


@workflow(catalog=CATALOG)
async def writer(ctx: WorkflowContext, count: int, flush_each: bool) -> float:
    await nothing(ctx)
    return await write_chunks(ctx, count, flush_each)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def write_cost(db_url: str, batched: int, flushed: int, repeat: int) -> dict[str, Any]:
    async with EddaApp(db_url, "bench", workflows=list(CATALOG)) as app:
        per_chunk: dict[str, list[float]] = {"batched": [], "flush_each": []}
        for _ in range(repeat):
            for mode, count in (("batched", batched), ("flush_each", flushed)):
                iid = await writer.start(count=count, flush_each=mode == "flush_each")
                seconds = await app.handle(iid).result(timeout=600)
                per_chunk[mode].append(seconds / count * 1e6)
    return {mode: round(statistics.median(values), 1) for mode, values in per_chunk.items()}


async def token_latency(db_url: str, count: int, flush_each: bool, workdir: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "edda_mcp", "serve", "bench/stream_bench_server.py:server"]
    cmd += ["--db", db_url, "--transport", "http"]
    env = dict(os.environ)
    latencies: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message is not None and not message.startswith("step "):
            latencies.append((time.time() - float(message)) * 1000)

    log_file = workdir / f"server-{flush_each}.log"
    async with http_server(cmd, env, str(HERE.parent), log_file) as url, Client(url) as client:
        arguments = {"count": count, "interval_ms": 5, "flush_each": flush_each}
        result = await client.call_tool("emit", arguments, progress_callback=on_progress)
        assert not result.is_error, result
    return {
        "chunks": len(latencies),
        "p50_ms": round(pct(latencies, 0.5), 1),
        "p99_ms": round(pct(latencies, 0.99), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_url = args.db or f"sqlite:///{workdir / 'streams.db'}"
        batched, flushed, repeat, tokens = (500, 50, 1, 100) if args.quick else (5000, 300, 3, 400)
        cost = await write_cost(db_url, batched, flushed, repeat)
        batched_latency = await token_latency(db_url, tokens, False, workdir)
        flushed_latency = await token_latency(db_url, tokens, True, workdir)
    backend = (args.db or "sqlite").split(":", 1)[0]
    print(f"durable output streams on {backend} (load average {os.getloadavg()[0]:.1f})")
    print(f"  write cost per chunk, batched      : {cost['batched']:8.1f} us")
    print(f"  write cost per chunk, flush each   : {cost['flush_each']:8.1f} us")
    for label, lat in (("batched", batched_latency), ("flush each", flushed_latency)):
        print(
            f"  writer -> MCP client, {label:10s}  : p50 {lat['p50_ms']:6.1f} ms  p99 {lat['p99_ms']:6.1f} ms"
            f"  ({lat['chunks']} chunks)"
        )
    payload = {
        "backend": backend,
        "write_cost_us": cost,
        "latency_batched": batched_latency,
        "latency_flush_each": flushed_latency,
        "loadavg": os.getloadavg()[0],
    }
    print("BENCH_RESULT " + json.dumps(payload))


if __name__ == "__main__":
    asyncio.run(main())
