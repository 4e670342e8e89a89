"""Queue limits, debounce and singleton across two worker processes on one PostgreSQL / MySQL database."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from durable_core import EddaApp, InstanceStatus
from tests.crash.support import REPO_ROOT
from tests.queues.worker import CATALOG, KEYED_STARTS, QUEUES, debounced, single, single_queued, tracked

pytestmark = pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)


@asynccontextmanager
async def _workers(
    db_url: str, log: Path, mode: str, count: int = 2
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.queues.worker",
            db_url,
            str(log),
            mode,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        async with asyncio.timeout(60):
            for proc in procs:
                assert proc.stdout is not None
                assert (await proc.stdout.readline()).strip() == b"ready"
        yield procs
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


def _peak_overlap(log: Path) -> int:
    events = []
    for line in log.read_text().splitlines():
        kind, ns = line.split()
        events.append((int(ns), 0 if kind == "end" else 1))  # at equal times an end comes first
    now = peak = 0
    for _, starting in sorted(events):
        now += 1 if starting else -1
        peak = max(peak, now)
    return peak


async def _client(db_url: str) -> EddaApp:
    app = EddaApp(db_url, workflows=list(CATALOG), queues=QUEUES, run_workers=False)
    await app.initialize()
    return app


async def test_concurrency_two_across_two_processes(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "overlap.log"
    client = await _client(db_url)
    try:
        async with _workers(db_url, log, "work"):
            ids = [await tracked.with_options(app=client).start(log=str(log), n=i) for i in range(100)]
            async with asyncio.timeout(120):
                results = await asyncio.gather(*(client.wait_result(i) for i in ids))
        assert sorted(results) == list(range(100))
        assert _peak_overlap(log) == 2
    finally:
        await client.shutdown()


async def _keyed(db_url: str, tmp_path: Path, mode: str) -> tuple[EddaApp, list[str]]:
    log = tmp_path / f"{mode}.log"
    client = await _client(db_url)
    async with _workers(db_url, log, mode) as procs:
        await asyncio.to_thread(Path(f"{log}.go").touch)  # both processes start their keyed starts now
        ids: list[str] = []
        async with asyncio.timeout(60):
            for proc in procs:
                assert proc.stdout is not None
                ids += json.loads(await proc.stdout.readline())
        assert len(ids) == 2 * KEYED_STARTS
        assert len(set(ids)) == 1, ids  # every start in both processes got the same instance
        if mode == "debounce":
            async with asyncio.timeout(60):
                value = await client.wait_result(ids[0])
            assert [line for line in log.read_text().splitlines() if line.startswith("run")] == [
                f"run {value}"
            ]
        else:
            await client.send_event("go", "test", {}, instance_id=ids[0])
            async with asyncio.timeout(60):
                await client.wait_result(ids[0])
    return client, ids


async def test_debounce_under_concurrent_starts_from_two_processes(db_url: str, tmp_path: Path) -> None:
    client, _ = await _keyed(db_url, tmp_path, "debounce")
    try:
        assert len(await client.list_instances(workflow_name=debounced.name)) == 1
    finally:
        await client.shutdown()


async def test_singleton_under_concurrent_starts_from_two_processes(db_url: str, tmp_path: Path) -> None:
    client, _ = await _keyed(db_url, tmp_path, "singleton")
    try:
        records = await client.list_instances(workflow_name=single.name)
        assert [r.status for r in records] == [InstanceStatus.COMPLETED]
    finally:
        await client.shutdown()


async def test_singleton_queue_under_concurrent_starts_from_two_processes(
    db_url: str, tmp_path: Path
) -> None:
    """Every start of both processes is its own instance; they run one at a time, each exactly once."""
    log = tmp_path / "singleton_queue.log"
    client = await _client(db_url)
    try:
        async with _workers(db_url, log, "singleton_queue") as procs:
            await asyncio.to_thread(Path(f"{log}.go").touch)
            ids: list[str] = []
            async with asyncio.timeout(60):
                for proc in procs:
                    assert proc.stdout is not None
                    ids += json.loads(await proc.stdout.readline())
            assert len(set(ids)) == 2 * KEYED_STARTS  # queued, not merged
            async with asyncio.timeout(120):
                results = await asyncio.gather(*(client.wait_result(i) for i in ids))
        runs = (await asyncio.to_thread(Path(f"{log}.runs").read_text)).splitlines()
        assert sorted(runs) == sorted(results)  # every start ran exactly once
        assert len(set(runs)) == 2 * KEYED_STARTS
        assert _peak_overlap(log) == 1  # never two runs of the key at once, across both processes
        records = await client.list_instances(workflow_name=single_queued.name)
        assert {r.status for r in records} == {InstanceStatus.COMPLETED}
    finally:
        await client.shutdown()
