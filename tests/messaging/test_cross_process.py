"""PostgreSQL: an event sent by one process resumes a workflow waiting in another, via LISTEN/NOTIFY.

The worker's fallback poll is set to 60 s, so only the notification can wake it within the test's bound.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from durable_core import EddaApp, InstanceStatus
from tests.messaging.programs.waiting_worker import CATALOG

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = "tests.messaging.programs.waiting_worker"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_event_from_another_process_wakes_the_waiter(db_url: str, tmp_path: Path) -> None:
    stderr = (tmp_path / "worker.err").open("w")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        "-m",
        PROGRAM,
        db_url,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"ready"), (tmp_path / "worker.err").read_text()
        client = EddaApp(db_url, "sender", run_workers=False, workflows=list(CATALOG))
        await client.initialize()
        try:
            iid = await client.start("await_go", {"label": "x"})
            async with asyncio.timeout(20):
                while True:  # the worker claims it at once (NOTIFY) and parks it; bounded
                    if (await client.get_instance(iid)).status is InstanceStatus.WAITING:
                        break
                    await asyncio.sleep(0.02)
            loop = asyncio.get_running_loop()
            sent = loop.time()
            await client.send_event("go", "test", {"n": 1}, instance_id=iid)
            assert await client.wait_result(iid, timeout=10) == "x:1"
            assert loop.time() - sent < 10  # far below the worker's 60 s fallback poll
        finally:
            await client.shutdown()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
        stderr.close()
