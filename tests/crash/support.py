"""Helpers shared by the crash and scale tests: worker subprocesses, the side-effect log, polling.

The side-effect log is a text file that activities of every worker process append to (O_APPEND,
fsynced): ``<event> <instance> <label> <pid> <attempt>`` where event is ``start`` (before the work)
or ``done`` (after it). A ``done`` line means the side effect completed; whether the engine
*recorded* it is what the history says.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from durable_core import EddaApp, InstanceRecord, InstanceStatus
from durable_core.types import FINISHED_STATUSES
from tests.crash.programs.workflows import CATALOG

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_MODULE = "tests.crash.programs.worker"
READY_TIMEOUT = 30.0
POLL = 0.05
UNFINISHED = frozenset(set(InstanceStatus) - set(FINISHED_STATUSES))


@dataclass(frozen=True, slots=True)
class Effect:
    """One line of the side-effect log."""

    event: str
    instance_id: str
    label: str
    pid: int
    attempt: int


class EffectLog:
    """Reads the side-effect log file (missing file = no effects yet)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[Effect]:
        """Every complete line, in append order."""
        if not self.path.exists():
            return []
        effects = []
        for line in self.path.read_text().splitlines():
            event, iid, label, pid, attempt = line.split(" ")
            effects.append(Effect(event, iid, label, int(pid), int(attempt)))
        return effects

    def counts(self) -> Counter[tuple[str, str, str]]:
        """``(event, instance, label) -> occurrences``."""
        return Counter((e.event, e.instance_id, e.label) for e in self.read())

    def attempts(self, event: str, instance_id: str, label: str) -> list[int]:
        """Attempt numbers of the matching lines, in order."""
        return [
            e.attempt for e in self.read() if (e.event, e.instance_id, e.label) == (event, instance_id, label)
        ]


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    what: str,
    timeout: float = 30.0,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` (sync or async) until it is true; fail after ``timeout`` seconds.

    ``explain`` adds diagnostics (e.g. the workers' stderr) to the failure message.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        outcome = predicate()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if loop.time() > deadline:
            details = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}{details}")
        await asyncio.sleep(POLL)


class WorkerProcess:
    """A running ``tests.crash.programs.worker`` subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self.proc = proc
        self.stderr_path = stderr_path
        self.worker_id = ""

    @property
    def pid(self) -> int:
        """OS process id."""
        return self.proc.pid

    def stderr(self) -> str:
        """Everything the worker wrote to stderr so far."""
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    async def wait_ready(self) -> None:
        """Wait for the ``ready`` line (the app is initialized and dispatching)."""
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), READY_TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"worker {self.pid} not ready:\n{self.stderr()}") from None
        words = line.decode().split()
        assert words[:1] == ["ready"], f"worker {self.pid} failed to start:\n{self.stderr()}"
        self.worker_id = words[1]

    async def kill(self) -> None:
        """SIGKILL the worker and reap it."""
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (graceful shutdown) and require a clean exit."""
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        assert code == 0, f"worker {self.pid} exited with {code}:\n{self.stderr()}"

    def assert_no_engine_errors(self) -> None:
        """The worker logged nothing at ERROR level and no traceback."""
        text = self.stderr()
        assert "ERROR" not in text and "Traceback" not in text, text


class WorkerPool:
    """Spawns workers for one test; anything still running at the end is killed."""

    def __init__(self, db_url: str, log_path: Path, tmp_path: Path) -> None:
        self.db_url = db_url
        self.log_path = log_path
        self.tmp_path = tmp_path
        self.workers: list[WorkerProcess] = []

    async def spawn(self, *options: str, ready: bool = True) -> WorkerProcess:
        """Start a worker with extra command-line ``options``; by default wait until it is ready."""
        stderr_path = self.tmp_path / f"worker-{len(self.workers)}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                "--db",
                self.db_url,
                "--log",
                str(self.log_path),
                *options,
                cwd=REPO_ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        worker = WorkerProcess(proc, stderr_path)
        self.workers.append(worker)
        if ready:
            await worker.wait_ready()
        return worker

    def diagnostics(self) -> str:
        """The tail of every worker's stderr (for failure messages)."""
        return "\n".join(f"--- worker {w.pid} stderr:\n{w.stderr()[-3000:]}" for w in self.workers)

    async def close(self) -> None:
        """Kill every worker that is still running."""
        for worker in self.workers:
            if worker.proc.returncode is None:
                worker.proc.kill()
                await worker.proc.wait()


@asynccontextmanager
async def client(db_url: str) -> AsyncIterator[EddaApp]:
    """A client-only app (starts and queries, never runs instances) serving the worker's workflows."""
    app = EddaApp(db_url, "crash-test", workflows=list(CATALOG), run_workers=False)
    await app.initialize()
    try:
        yield app
    finally:
        await app.shutdown()


async def start_many(app: EddaApp, workflow: str, ids: Iterable[str], concurrency: int = 10) -> None:
    """Start one instance per id (argument ``n`` = the id's numeric suffix)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(iid: str) -> None:
        async with gate:
            await app.start(workflow, {"n": int(iid.rsplit("-", 1)[1])}, instance_id=iid)

    await asyncio.gather(*(one(iid) for iid in ids))


async def records(app: EddaApp, ids: Iterable[str]) -> dict[str, InstanceRecord]:
    """Current records of ``ids`` (one query; at most 1000 instances in the database)."""
    wanted = set(ids)
    return {r.instance_id: r for r in await app.list_instances(limit=1000) if r.instance_id in wanted}


async def wait_all_finished(
    app: EddaApp, ids: list[str], pool: WorkerPool, timeout: float = 30.0
) -> dict[str, InstanceRecord]:
    """Poll until every instance reached a final status; return the final records by id."""

    async def finished() -> bool:
        found = await records(app, ids)
        return len(found) == len(ids) and all(r.status in FINISHED_STATUSES for r in found.values())

    await wait_until(finished, f"all {len(ids)} instances finished", timeout, pool.diagnostics)
    return await records(app, ids)


async def assert_nothing_stranded(app: EddaApp) -> None:
    """No instance in the database is unfinished or still leased."""
    unfinished = await app.list_instances(status=UNFINISHED, limit=1000)
    assert unfinished == [], [(r.instance_id, r.status) for r in unfinished]
    leased = [r.instance_id for r in await app.list_instances(limit=1000) if r.lease_owner is not None]
    assert leased == []
