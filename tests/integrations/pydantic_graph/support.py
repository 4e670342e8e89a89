"""Test helpers: waiting (bounded) for an instance status; crash-test worker subprocesses."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from durable_core import EddaApp, InstanceStatus
from tests.crash.support import REPO_ROOT, WorkerProcess, wait_until


async def wait_status(app: EddaApp, iid: str, status: InstanceStatus, timeout: float = 10.0) -> None:
    """Poll the instance row until it has ``status``; fail after ``timeout`` seconds."""

    async def reached() -> bool:
        return (await app.get_instance(iid)).status is status

    await wait_until(reached, f"{iid} is {status.value}", timeout)


class Workers:
    """Spawns worker subprocesses for one test; any still running at the end are killed."""

    def __init__(self, module: str, db_url: str, log: Path, tmp_path: Path) -> None:
        self.module, self.db_url, self.log, self.tmp_path = module, db_url, log, tmp_path
        self.all: list[WorkerProcess] = []

    async def spawn(self, *options: str) -> WorkerProcess:
        stderr_path = self.tmp_path / f"worker-{len(self.all)}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, "--db", self.db_url, "--log", str(self.log), *options,
                cwd=REPO_ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        worker = WorkerProcess(proc, stderr_path)
        self.all.append(worker)
        await worker.wait_ready()
        return worker

    def diagnostics(self) -> str:
        return "\n".join(f"--- worker {w.pid} stderr:\n{w.stderr()[-3000:]}" for w in self.all)

    async def __aenter__(self) -> Workers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for worker in self.all:
            if worker.proc.returncode is None:
                worker.proc.kill()
                await worker.proc.wait()
