"""A worker process for the cross-process wait benchmarks, and the client that drives it.

Run as a program (``wake_latency.py --mode cross-process`` and ``recovery.py`` start it with the same
interpreter as themselves, so it runs either engine)::

    python bench/wait_worker.py --engine durable_core|edda --db-url URL [--expect-ready N]

it opens the engine with workers running and talks line by line: it prints ``imported T`` (imports done),
``ready T`` (app initialised; with ``--expect-ready N`` also ``all_ready T COUNT`` once N ``bench_wake``
instances are stored as waiting and free to resume) and, whenever a workflow completes, ``done ID T WALL``
(``T`` = ``time.monotonic()``, the system-wide monotonic clock, so the parent can compare it with its own).
It reads commands on stdin:

* ``start N`` - start N ``bench_wake`` instances here, wait until all are parked, print ``parked ID...``;
* ``send_all ID...`` - send every listed instance its ``bench.wake`` event from this process (at most 20 at
  a time), print ``sent ID T0 T1`` per event (call and return of the send) and then ``sent_all``;
* ``quit`` - shut down gracefully and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
_ROOT = str(BENCH_DIR.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)  # our engine from the checkout (after anything installed)

from wait_common import add_engine_args  # noqa: E402
from wait_engines import WAKE_WORKFLOW, Completions, Engine, make_engine, run_engine_main  # noqa: E402

SEND_CONCURRENCY = 20
START_CONCURRENCY = 20


def out(*words: object) -> None:
    """Write one protocol line to stdout."""
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


async def start_parked(engine: Engine, n: int, timeout: float = 120.0) -> list[str]:
    """Start ``n`` ``bench_wake`` instances (``i`` = 0..n-1) and wait until every one is parked."""
    # edda 0.16.2 on SQLite loses concurrent starts to "database is locked"; starting is not timed.
    gate = asyncio.Semaphore(1 if engine.label == "edda-framework" else START_CONCURRENCY)

    async def one(i: int) -> str:
        async with gate:
            return await engine.start_waiter(i)

    # The first start alone: edda 0.16.2 registers a workflow's definition on its first start, and
    # concurrent first starts race on that insert (UniqueViolation on workflow_definitions_pkey).
    ids = [await engine.start_waiter(0)] if n else []
    ids += await asyncio.gather(*(one(i) for i in range(1, n)))
    await engine.wait_parked(ids, timeout)
    return ids


async def send_all(engine: Engine, ids: Sequence[str]) -> list[tuple[str, float, float]]:
    """Send each instance its event (bounded concurrency); return ``(id, call time, return time)``."""
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(k: int, iid: str) -> tuple[str, float, float]:
        async with gate:
            t0 = time.monotonic()
            await engine.send(iid, k)
            return iid, t0, time.monotonic()

    return list(await asyncio.gather(*(one(k, iid) for k, iid in enumerate(ids))))


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def amain(args: argparse.Namespace) -> int:
    """Serve commands until ``quit`` (or end of input)."""
    engine = make_engine(args.engine, sqlite_pragmas=args.sqlite_pragmas)
    out("imported", time.monotonic())
    engine.completions.on_record = lambda iid, t, wall: out("done", iid, t, wall)
    await engine.open(args.db_url, workers=True)
    out("ready", time.monotonic())
    try:
        if args.expect_ready:
            # Polling the database is the point here: "ready" means visible to anyone in storage.
            while (count := await engine.count_ready(WAKE_WORKFLOW)) < args.expect_ready:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            out("all_ready", time.monotonic(), count)
        reader = await _stdin_reader()
        while line := (await reader.readline()).decode():
            cmd, *rest = line.split()
            if cmd == "start":
                out("parked", *await start_parked(engine, int(rest[0])))
            elif cmd == "send_all":
                for iid, t0, t1 in await send_all(engine, rest):
                    out("sent", iid, t0, t1)
                out("sent_all", time.monotonic())
            elif cmd == "quit":
                break
            else:
                out("error", f"unknown command {cmd!r}")
    finally:
        await engine.close()
    return 0


class WorkerClient:
    """A running ``wait_worker.py``: send commands, read its lines; ``done`` lines go to ``completions``."""

    def __init__(self, proc: asyncio.subprocess.Process, spawned_at: float) -> None:
        self.proc = proc
        self.spawned_at = spawned_at
        self.completions = Completions()
        self.lines: asyncio.Queue[list[str]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def spawn(cls, args: argparse.Namespace, *extra: str) -> WorkerClient:
        """Start a worker with the same interpreter, engine and database as ``args``."""
        cmd = [
            sys.executable, str(BENCH_DIR / "wait_worker.py"), "--engine", args.engine,
            "--db-url", args.db_url, "--sqlite-pragmas", args.sqlite_pragmas, *extra,
        ]  # fmt: skip
        spawned_at = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the worker's logs go to our stderr
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            limit=1 << 20,
        )
        return cls(proc, spawned_at)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := (await self.proc.stdout.readline()).decode():
            words = line.split()
            if not words:
                continue
            if words[0] == "done":
                self.completions.record(words[1], None, float(words[2]), float(words[3]))
            else:
                await self.lines.put(words)
        await self.lines.put(["eof"])

    async def expect(self, what: str, timeout: float) -> list[str]:
        """The next line, which must start with ``what``: its other words (RuntimeError otherwise)."""
        return (await self.expect_any((what,), timeout))[1:]

    async def expect_any(self, whats: tuple[str, ...], timeout: float) -> list[str]:
        """The next line, which must start with one of ``whats``: all its words (RuntimeError otherwise)."""
        try:
            words = await asyncio.wait_for(self.lines.get(), timeout)
        except TimeoutError:
            raise RuntimeError(f"worker sent no {'/'.join(whats)!r} line within {timeout} s") from None
        if words[0] not in whats:
            raise RuntimeError(f"worker sent {' '.join(words)[:300]!r}, expected {'/'.join(whats)!r}")
        return words

    async def command(self, *words: object) -> None:
        """Send one command line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((" ".join(str(w) for w in words) + "\n").encode())
        await self.proc.stdin.drain()

    async def kill(self) -> None:
        """SIGKILL the worker and reap it."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._drain_reader()

    async def quit(self, timeout: float = 30.0) -> None:
        """Ask the worker to shut down; kill it if it does not exit in time."""
        if self.proc.returncode is None:
            try:
                await self.command("quit")
                await asyncio.wait_for(self.proc.wait(), timeout)
            except (TimeoutError, ConnectionError):
                await self.kill()
        await self._drain_reader()

    async def _drain_reader(self) -> None:
        try:
            await asyncio.wait_for(self._reader, 5.0)
        except (TimeoutError, asyncio.CancelledError):
            self._reader.cancel()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_engine_args(parser)
    parser.add_argument("--expect-ready", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result: Any = run_engine_main(args.engine, amain(args))
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
