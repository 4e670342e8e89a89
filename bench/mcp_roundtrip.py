"""MCP round trips: start + status + result of a 3-step durable tool over stdio and streamable HTTP.

Measures (1) the latency of one start -> status -> result round trip (p50/p99) over a real stdio
subprocess and over a real uvicorn on 127.0.0.1, and (2) N durable tool calls started concurrently over
HTTP until every result is fetched. Prints log lines to stderr and one ``BENCH_RESULT {json}`` line.

Run: .venv/bin/python bench/mcp_roundtrip.py [--quick] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_common import RESULT_PREFIX
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
TARGET = f"{HERE / 'mcp_bench_server.py'}:server"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def roundtrip(client: Client, seed: int) -> float:
    began = time.perf_counter()
    started = await client.call_tool("three_steps", {"seed": seed})
    iid = (started.structured_content or {})["instance_id"]
    await client.call_tool("three_steps_status", {"instance_id": iid})
    result = await client.call_tool("three_steps_result", {"instance_id": iid, "wait_seconds": 30})
    assert (result.structured_content or {}).get("result") == seed + 3, result
    return (time.perf_counter() - began) * 1000


async def measure(client: Client, runs: int) -> dict[str, float]:
    await roundtrip(client, -1)  # warm-up
    samples = [await roundtrip(client, n) for n in range(runs)]
    return {"p50_ms": round(statistics.median(samples), 2), "p99_ms": round(pct(samples, 0.99), 2)}


async def concurrent(url: str, calls: int, parallel: int) -> dict[str, float]:
    gate = asyncio.Semaphore(parallel)

    async def one(client: Client, seed: int) -> None:
        async with gate:
            started = await client.call_tool("three_steps", {"seed": seed})
        iid = (started.structured_content or {})["instance_id"]
        async with gate:
            result = await client.call_tool("three_steps_result", {"instance_id": iid, "wait_seconds": 40})
        assert (result.structured_content or {}).get("result") == seed + 3, result

    async with Client(url) as client:
        began = time.perf_counter()
        await asyncio.gather(*(one(client, n) for n in range(calls)))
        elapsed = time.perf_counter() - began
    return {"calls": calls, "elapsed_s": round(elapsed, 2), "calls_per_s": round(calls / elapsed, 1)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"HTTP server exited with {proc.returncode}")
        try:
            async with httpx.AsyncClient() as http:
                await http.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "ping"}, timeout=5)
            return
        except httpx.TransportError:
            await asyncio.sleep(0.1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 round trips, 200 concurrent calls")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    runs, calls = (20, 200) if args.quick else (100, 1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDDA_")}
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        serve = [sys.executable, "-m", "edda_mcp", "serve", TARGET, "--db", db]
        log(f"stdio: {runs} round trips")
        params = StdioServerParameters(command=serve[0], args=serve[1:], env=env, cwd=tmp)
        async with Client(params) as client:
            stdio = await measure(client, runs)
        port = free_port()
        url = f"http://127.0.0.1:{port}/mcp"
        proc = subprocess.Popen(  # noqa: ASYNC220 - one server process for the whole benchmark
            [*serve, "--transport", "http", "--port", str(port)], env=env, cwd=tmp, stderr=subprocess.DEVNULL
        )
        try:
            await wait_http(url, proc)
            log(f"http: {runs} round trips")
            async with Client(url) as client:
                http = await measure(client, runs)
            log(f"http: {calls} concurrent durable tool calls")
            conc = await concurrent(url, calls, parallel=64)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    result: dict[str, Any] = {"stdio_roundtrip": stdio, "http_roundtrip": http, "http_concurrent": conc}
    log(json.dumps(result, indent=2))
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
