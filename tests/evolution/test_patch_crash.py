"""SIGKILL during a ``ctx.patched`` transition: a v2 worker dies while old runs are resumed (all databases)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

from durable_core import EddaApp, InstanceStatus, StepKind
from tests.crash.support import REPO_ROOT, WorkerProcess, wait_until
from tests.evolution import versions
from tests.evolution.versions import CALLS_FILE, EVENT, HOLD

OLD, NEW = 8, 3


async def _spawn(db_url: str, tmp_path: Path, calls: Path, *, hold: bool, index: int) -> WorkerProcess:
    stderr_path = tmp_path / f"worker-{index}.stderr"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", CALLS_FILE: str(calls)}
    if hold:
        env[HOLD] = "finish"
    with stderr_path.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.evolution.programs.evolution_worker",
            "--db",
            db_url,
            "--deploy",
            "v2",
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    worker = WorkerProcess(proc, stderr_path)
    await worker.wait_ready()
    return worker


def _calls(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(line.split(" ")[0] for line in path.read_text().splitlines())


async def test_sigkill_while_old_runs_resume_on_patched_code(db_url: str, tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    old = [f"old-{n}" for n in range(OLD)]
    new = [f"new-{n}" for n in range(NEW)]
    async with EddaApp(db_url, workflows=list(versions.V1), version="v1", poll_interval=0.1) as v1:
        for iid in old:
            await v1.start("order", {"n": int(iid.split("-")[1])}, instance_id=iid)

        async def old_waiting() -> bool:
            return len(await v1.list_instances(status=InstanceStatus.WAITING)) == OLD

        await wait_until(old_waiting, "the v1 runs wait")

    client = EddaApp(db_url, workflows=list(versions.V2), version="v2", run_workers=False)
    await client.initialize()
    workers = [await _spawn(db_url, tmp_path, calls, hold=True, index=0)]
    first = workers[0]
    try:
        for iid in new:
            await client.start("order", {"n": int(iid.split("-")[1])}, instance_id=iid)

        async def all_waiting() -> bool:
            return len(await client.list_instances(status=InstanceStatus.WAITING)) == OLD + NEW

        await wait_until(all_waiting, "every run waits", explain=first.stderr)
        for iid in old + new:
            await client.send_event(EVENT, "test", {}, instance_id=iid)
        await wait_until(
            lambda: _calls(calls)["finish-held"] >= (OLD + NEW) // 2, "runs resumed", explain=first.stderr
        )
        await first.kill()  # mid-transition: runs of both paths are inside their last step

        second = await _spawn(db_url, tmp_path, calls, hold=False, index=1)
        workers.append(second)
        results = {iid: await client.handle(iid).result(timeout=60) for iid in old + new}
        await second.stop()
        second.assert_no_engine_errors()
        assert results == {iid: f"{'old' if iid in old else 'new'} {iid.split('-')[1]}" for iid in old + new}
        assert await client.list_instances(status=InstanceStatus.BLOCKED) == []
        counted = _calls(calls)
        assert counted["audit"] == NEW and counted["finish"] == OLD + NEW  # audit ran once per new run
        for iid in old + new:
            history = await client.get_history(iid)
            markers = [(e.position, e.name) for e in history if e.kind is StepKind.PATCH]
            assert markers == ([] if iid in old else [(1, "audit")]), (iid, markers)  # never duplicated
            record = await client.get_instance(iid)
            assert (record.app_version, record.last_run_version) == ("v1" if iid in old else "v2", "v2")
    finally:
        await client.shutdown()
        for worker in workers:
            if worker.proc.returncode is None:
                worker.proc.kill()
                await worker.proc.wait()
