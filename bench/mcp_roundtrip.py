"""MCP round trips: start + status + result of a 3-step durable tool, ours beside edda-framework 0.16.2.

Measures, with the same MCP client (the project's SDK, ``mcp.Client``) against two servers,

* ours: ``edda_mcp serve bench/mcp_bench_server.py:server`` (this venv), and
* the peer: edda-framework 0.16.2's ``EddaMCPServer`` (``bench/mcp_peer_server.py`` in
  ``bench/.peer-venv``; ``mcp_peer_setup.py`` adds edda's ``mcp`` extra there on first use),

(1) the latency of one start -> status -> result round trip (p50/p99) over a real stdio subprocess and
over a real uvicorn on 127.0.0.1 (streamable HTTP), both servers up at once and taking turns round trip by
round trip, so a change in machine load hits both alike, and (2) N durable tool calls started
concurrently over HTTP (at most ``--parallel`` requests in flight) until every result is fetched, one
server after the other. Each phase has a deadline; a server that does not finish in time is reported with
how many calls finished, never waited for; a server that fails shows ``error`` and the other goes on.

Prints log lines to stderr, a table with both servers and their ratios to stdout, then one
``BENCH_RESULT {json}`` line.

Run: .venv/bin/python bench/mcp_roundtrip.py [--quick] [--no-peer] [--db URL] [--peer-db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from bench_common import RESULT_PREFIX, ensure_loopback
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult
from mcp_peer_client import Driver, OurDriver, PeerDriver

HERE = Path(__file__).resolve().parent
TARGET = f"{HERE / 'mcp_bench_server.py'}:server"
PEER_SERVER = HERE / "mcp_peer_server.py"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
MAX_FAILURES_IN_A_ROW = 5
WARMUP_ATTEMPTS = 3
EXCEPTION_LINE = re.compile(r"^([\w.]+\.)?\w*(Error|Exception|Failure)(\s*\(.*\))?: ")


@dataclass(frozen=True)
class Sizes:
    """How much work each phase does and how long it may take."""

    runs: int
    calls: int
    peer_calls: int
    parallel: int
    roundtrip_budget_s: float
    conc_budget_s: float
    peer_conc_budget_s: float


QUICK = Sizes(
    runs=20,
    calls=200,
    peer_calls=200,
    parallel=64,
    roundtrip_budget_s=30,
    conc_budget_s=60,
    peer_conc_budget_s=30,
)
FULL = Sizes(
    runs=100,
    calls=1000,
    peer_calls=1000,
    parallel=64,
    roundtrip_budget_s=90,
    conc_budget_s=240,
    peer_conc_budget_s=120,
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, looking inside (nested) exception groups for the first cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:500]


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def roundtrip(client: Client, driver: Driver, seed: int, deadline: float) -> tuple[float, float, float]:
    """One start -> status -> result; returns the milliseconds of each call."""
    t0 = time.perf_counter()
    instance_id = await driver.start(client, seed)
    t1 = time.perf_counter()
    await driver.status(client, instance_id)
    t2 = time.perf_counter()
    value = await driver.result(client, instance_id, deadline)
    t3 = time.perf_counter()
    if value != seed + 3:
        raise RuntimeError(f"{driver.name}: three_steps({seed}) returned {value}, expected {seed + 3}")
    return (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000


@dataclass
class Side:
    """One server under test: how to reach it, how to drive it, and what was measured."""

    key: str
    driver: Driver
    stdio: StdioServerParameters
    http_cmd: list[str]
    cwd: str
    log_file: Path
    calls: int
    conc_budget_s: float
    results: dict[str, Any] = field(default_factory=dict)
    url: str = ""


def summarise(client: Client, parts: list[tuple[float, float, float]], runs: int) -> dict[str, Any]:
    totals = [sum(p) for p in parts]
    return {
        "protocol": str(client.protocol_version),
        "runs": len(parts),
        "of": runs,
        "p50_ms": round(statistics.median(totals), 2),
        "p99_ms": round(pct(totals, 0.99), 2),
        "mean_ms": round(statistics.fmean(totals), 2),
        "start_p50_ms": round(statistics.median(p[0] for p in parts), 2),
        "status_p50_ms": round(statistics.median(p[1] for p in parts), 2),
        "result_p50_ms": round(statistics.median(p[2] for p in parts), 2),
    }


async def measure(pairs: list[tuple[Side, Client]], key: str, runs: int, budget_s: float) -> None:
    """``runs`` sequential round trips per server, interleaved, stored in ``side.results[key]``.

    The servers take turns (one round trip each, the order flipping every run), so a change in machine
    load hits both alike. One warm-up round trip each first (a server whose warm-up fails gets an
    ``error``). A failed round trip is counted and left out of the percentiles; a server is dropped after
    ``MAX_FAILURES_IN_A_ROW`` failures in a row. Stops early, for all, at the deadline.
    """
    deadline = time.monotonic() + budget_s * len(pairs)
    samples: dict[str, list[tuple[float, float, float]]] = {side.key: [] for side, _ in pairs}
    active: list[tuple[Side, Client]] = []
    for side, client in pairs:
        try:
            await asyncio.wait_for(roundtrip(client, side.driver, 10_000, deadline), budget_s)  # warm-up
            active.append((side, client))
        except Exception as exc:
            side.results[key] = {"error": "warm-up: " + describe(exc)}
    failures: dict[str, list[str]] = {side.key: [] for side, _ in pairs}
    in_a_row: dict[str, int] = dict.fromkeys(samples, 0)
    for n in range(runs):
        for side, client in list(active if n % 2 == 0 else reversed(active)):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                samples[side.key].append(
                    await asyncio.wait_for(roundtrip(client, side.driver, n, deadline), left)
                )
                in_a_row[side.key] = 0
            except TimeoutError:
                break
            except Exception as exc:  # counted; a server is dropped only when it keeps failing
                log(f"{side.driver.name} {key}: round trip {n} failed: {describe(exc)}")
                failures[side.key].append(describe(exc))
                in_a_row[side.key] += 1
                if in_a_row[side.key] >= MAX_FAILURES_IN_A_ROW:
                    active.remove((side, client))
    for side, client in pairs:
        if key in side.results:  # warm-up failed
            continue
        if samples[side.key]:
            side.results[key] = summarise(client, samples[side.key], runs)
        else:
            side.results[key] = {"error": f"no round trip succeeded within {budget_s:g} s"}
        side.results[key]["failed"] = len(failures[side.key])
        side.results[key]["first_error"] = failures[side.key][0] if failures[side.key] else None
        log(f"{side.driver.name} {key}: {json.dumps(side.results[key])}")


class GatedClient:
    """Lets at most ``parallel`` tool calls of one client be in flight at a time."""

    def __init__(self, client: Client, gate: asyncio.Semaphore) -> None:
        self._client = client
        self._gate = gate

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        async with self._gate:
            return await self._client.call_tool(name, arguments)


async def concurrent(url: str, driver: Driver, calls: int, parallel: int, budget_s: float) -> dict[str, Any]:
    """Start ``calls`` durable tool calls at once over HTTP and fetch every result, within ``budget_s``."""
    ok_ends: list[float] = []
    all_ends: list[float] = []
    errors: list[str] = []
    async with Client(url) as client:
        for attempt in range(WARMUP_ATTEMPTS):  # warm-up, not timed (the peer fails now and then)
            try:
                await roundtrip(client, driver, 20_000 + attempt, time.monotonic() + 30)
                break
            except Exception as exc:
                if attempt == WARMUP_ATTEMPTS - 1:
                    raise
                log(f"{driver.name}: warm-up failed, retrying: {describe(exc)}")
        caller = GatedClient(client, asyncio.Semaphore(parallel))
        began = time.perf_counter()
        deadline = time.monotonic() + budget_s

        async def one(seed: int) -> None:
            try:
                instance_id = await driver.start(caller, seed)
                value = await driver.result(caller, instance_id, deadline)
                if value != seed + 3:
                    raise RuntimeError(f"returned {value}, expected {seed + 3}")
                ok_ends.append(time.perf_counter())
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            finally:
                all_ends.append(time.perf_counter())

        tasks = [asyncio.create_task(one(n)) for n in range(calls)]
        _, pending = await asyncio.wait(tasks, timeout=budget_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    elapsed = (max(ok_ends) - began) if ok_ends else budget_s
    for first in errors[:3]:
        log(f"{driver.name}: {first}")
    return {
        "calls": calls,
        "finished": len(ok_ends),
        "failed": len(errors),
        "unfinished": len(pending),
        "deadline_s": budget_s,
        "deadline_hit": bool(pending),
        "elapsed_s": round(elapsed, 2),
        "elapsed_all_s": round((max(all_ends) if all_ends else time.perf_counter()) - began, 2),
        "calls_per_s": round(len(ok_ends) / elapsed, 1) if ok_ends else 0.0,
        "first_error": errors[0] if errors else None,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with httpx.AsyncClient() as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"HTTP server exited with {proc.returncode}")
            try:
                await http.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "ping"}, timeout=5)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"HTTP server not answering at {url} after {STARTUP_TIMEOUT_S:g} s"
                    ) from None
                await asyncio.sleep(0.1)


@asynccontextmanager
async def http_server(cmd: list[str], env: dict[str, str], cwd: str, log_file: Path) -> AsyncIterator[str]:
    """Run one HTTP server subprocess on a free loopback port; yield its MCP URL; stop it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with log_file.open("wb") as err:
        proc = subprocess.Popen(  # noqa: ASYNC220 - one server process per phase
            [*cmd, "--port", str(port)],
            env=env,
            cwd=cwd,
            stderr=err,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            await wait_http(url, proc)
            yield url
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(proc.wait, STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    await asyncio.to_thread(proc.wait)


async def guarded(label: str, budget_s: float, work: Callable[[], Any]) -> dict[str, Any]:
    """Run one phase under an overall deadline; a failure or timeout becomes ``{"error": ...}``."""
    log(label)
    try:
        async with asyncio.timeout(budget_s):
            result: dict[str, Any] = await work()
    except Exception as exc:  # a benchmark phase failing must not stop the others
        log(f"{label}: FAILED: {describe(exc)}")
        return {"error": describe(exc)}
    log(f"{label}: {json.dumps(result)}")
    return result


async def open_all(
    stack: AsyncExitStack, sides: list[Side], opener: Callable[[Side], Any], key: str
) -> list[tuple[Side, Any]]:
    """Enter ``opener(side)`` for every side; a side that fails to open gets an ``error`` under ``key``."""
    opened: list[tuple[Side, Any]] = []
    for side in sides:
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT_S + STOP_TIMEOUT_S):
                opened.append((side, await stack.enter_async_context(opener(side))))
        except Exception as exc:
            log(f"{side.driver.name} {key}: cannot start: {describe(exc)}")
            side.results[key] = {"error": "start: " + describe(exc)}
    return opened


async def stdio_phase(sides: list[Side], sizes: Sizes) -> None:
    """Round trips over stdio, every server at once, interleaved."""
    log(f"stdio: {sizes.runs} round trips each, interleaved")
    async with AsyncExitStack() as stack:
        pairs = await open_all(stack, sides, lambda side: Client(side.stdio), "stdio_roundtrip")
        await measure(pairs, "stdio_roundtrip", sizes.runs, sizes.roundtrip_budget_s)


async def http_phases(sides: list[Side], env: dict[str, str], sizes: Sizes) -> None:
    """Over streamable HTTP: interleaved round trips, then each server's concurrent calls in turn."""
    async with AsyncExitStack() as servers:
        urls = await open_all(
            servers,
            sides,
            lambda side: http_server(side.http_cmd, env, side.cwd, side.log_file),
            "http_roundtrip",
        )
        for side, url in urls:
            side.url = url
        log(f"http: {sizes.runs} round trips each, interleaved")
        async with AsyncExitStack() as clients:
            pairs = await open_all(
                clients, [s for s, _ in urls], lambda side: Client(side.url), "http_roundtrip"
            )
            await measure(pairs, "http_roundtrip", sizes.runs, sizes.roundtrip_budget_s)
        for side, url in urls:
            conc = await guarded(
                f"{side.driver.name} http: {side.calls} concurrent durable tool calls (deadline {side.conc_budget_s:g} s)",
                side.conc_budget_s + 60,
                functools.partial(
                    concurrent, url, side.driver, side.calls, sizes.parallel, side.conc_budget_s
                ),
            )
            side.results["http_concurrent"] = conc
    for side in sides:
        conc = side.results.setdefault("http_concurrent", {"error": "HTTP server did not start"})
        if conc.get("failed") or "error" in conc:
            conc["server_log"] = log_excerpt(side.log_file)


def log_excerpt(log_file: Path, limit: int = 3) -> list[str]:
    """The first distinct exception lines a server wrote to stderr (tool errors are hidden from clients)."""
    seen: list[str] = []
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    for line in text.splitlines():
        match = EXCEPTION_LINE.match(line.strip())
        if match and line.strip()[:240] not in seen:
            seen.append(line.strip()[:240])
            if len(seen) == limit:
                break
    return seen


def ratio(num: Any, den: Any) -> str:
    if isinstance(num, int | float) and isinstance(den, int | float) and den > 0:
        return f"{num / den:.1f}x"
    return "n/a"


def cell(phase: dict[str, Any], key: str) -> str:
    if "error" in phase:
        return "error"
    value = phase.get(key)
    return "n/a" if value is None else f"{value:,}"


def done(phase: dict[str, Any]) -> str:
    return "error" if "error" in phase else f"{phase.get('finished', 0)}/{phase.get('calls', 0)}"


def table(ours: dict[str, Any], peer: dict[str, Any] | None) -> str:
    """The human-readable comparison printed on stdout."""
    p = peer or {}
    lines = [
        "MCP durable tool benchmark: 3-step workflow, start + status + result",
        "",
        f"{'':38} {'edda-mcp':>12} {'edda-fw 0.16.2':>15} {'ratio':>8}",
    ]
    for transport in ("stdio", "http"):
        o, q = ours.get(f"{transport}_roundtrip", {}), p.get(f"{transport}_roundtrip", {})
        for key in ("p50_ms", "p99_ms"):
            label = f"round trip {transport} {key.replace('_ms', '')} (ms)"
            lines.append(
                f"{label:38} {cell(o, key):>12} {cell(q, key) if peer else '-':>15} {ratio(q.get(key), o.get(key)):>8}"
            )
    failed = [
        f"{name} {transport}: {phase.get('failed')}"
        for name, side in (("edda-mcp", ours), ("edda-framework", p))
        for transport in ("stdio", "http")
        if (phase := side.get(f"{transport}_roundtrip", {})).get("failed")
    ]
    if failed:
        lines.append(f"{'round trips that failed (left out)':38} {', '.join(failed)}")
    o, q = ours.get("http_concurrent", {}), p.get("http_concurrent", {})
    lines.append(f"{'concurrent http: finished':38} {done(o):>12} {done(q) if peer else '-':>15}")
    lines.append(
        f"{'concurrent http: last ok result (s)':38} {cell(o, 'elapsed_s'):>12} {cell(q, 'elapsed_s') if peer else '-':>15}"
    )
    lines.append(
        f"{'concurrent http: all ended (s)':38} {cell(o, 'elapsed_all_s'):>12} "
        f"{cell(q, 'elapsed_all_s') if peer else '-':>15}"
    )
    lines.append(
        f"{'concurrent http: calls/s':38} {cell(o, 'calls_per_s'):>12} {cell(q, 'calls_per_s') if peer else '-':>15}"
        f" {ratio(o.get('calls_per_s'), q.get('calls_per_s')):>8}"
    )
    lines += [
        "",
        "ratio: round trips = edda-framework ms / edda-mcp ms; calls/s = edda-mcp / edda-framework (>1: ours faster)",
    ]
    if q.get("deadline_hit") or o.get("deadline_hit"):
        lines.append("a deadline was hit: calls/s counts only the calls finished before it (see 'finished')")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="20 round trips, 200 concurrent calls, short deadlines"
    )
    parser.add_argument("--db", help="our database URL (default: a fresh SQLite file)")
    parser.add_argument("--peer-db", help="edda-framework's database URL (default: a fresh SQLite file)")
    parser.add_argument("--no-peer", action="store_true", help="measure only edda-mcp")
    parser.add_argument(
        "--calls", type=int, help="concurrent calls for edda-mcp (default 1000, 200 with --quick)"
    )
    parser.add_argument("--peer-calls", type=int, help="concurrent calls for the peer (default: as --calls)")
    parser.add_argument(
        "--parallel", type=int, help="tool calls in flight at once in the concurrent phase (64)"
    )
    parser.add_argument("--peer-deadline", type=float, help="seconds the peer's concurrent phase may take")
    args = parser.parse_args()
    sizes = replace(
        QUICK if args.quick else FULL,
        **{
            name: value
            for name, value in (
                ("calls", args.calls),
                ("peer_calls", args.peer_calls or args.calls),
                ("parallel", args.parallel),
                ("peer_conc_budget_s", args.peer_deadline),
            )
            if value
        },
    )
    for url in (args.db, args.peer_db):
        if url:
            ensure_loopback(url)
    peer_python: Path | None = None
    if not args.no_peer:
        from mcp_peer_setup import ensure_peer_mcp

        peer_python = ensure_peer_mcp()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDDA_")}
    load_before = loadavg()
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        serve = [sys.executable, "-m", "edda_mcp", "serve", TARGET, "--db", db]
        sides = [
            Side(
                key="ours",
                driver=OurDriver(),
                stdio=StdioServerParameters(command=serve[0], args=serve[1:], env=env, cwd=tmp),
                http_cmd=[*serve, "--transport", "http"],
                cwd=tmp,
                log_file=Path(tmp) / "ours-http.log",
                calls=sizes.calls,
                conc_budget_s=sizes.conc_budget_s,
            )
        ]
        if peer_python is not None:
            peer_db = args.peer_db or f"sqlite:///{Path(tmp) / 'peer.db'}"
            peer_serve = [str(peer_python), str(PEER_SERVER), "--db", peer_db]
            sides.append(
                Side(
                    key="peer",
                    driver=PeerDriver(),
                    stdio=StdioServerParameters(
                        command=peer_serve[0], args=peer_serve[1:], env=env, cwd=str(HERE)
                    ),
                    http_cmd=[*peer_serve, "--transport", "http"],
                    cwd=str(HERE),
                    log_file=Path(tmp) / "peer-http.log",
                    calls=sizes.peer_calls,
                    conc_budget_s=sizes.peer_conc_budget_s,
                )
            )
        await stdio_phase(sides, sizes)
        await http_phases(sides, env, sizes)
    ours = sides[0].results
    peer = sides[1].results if len(sides) > 1 else None
    result: dict[str, Any] = {
        "bench": "mcp_roundtrip",
        "quick": args.quick,
        **ours,
        "peer": peer,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "wall_s": round(time.monotonic() - began, 1),
        },
    }
    print(table(ours, peer), flush=True)
    print(
        f"load average before {load_before}, after {result['machine']['loadavg_after']}; "
        f"wall {result['machine']['wall_s']} s",
        flush=True,
    )
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
