"""Scale-out: two worker processes on one PostgreSQL / MySQL database share 300 workflows.

Server backends only: scale-out to several processes is what PostgreSQL and MySQL are for (SQLite is
the embedded, single-process backend). The database is the only coordinator: workers compete for
instances with ``FOR UPDATE SKIP LOCKED`` claims.
"""

from __future__ import annotations

import asyncio

import pytest

from durable_core import InstanceStatus
from tests.crash.support import EffectLog, WorkerPool, client, start_many, wait_all_finished

COUNT = 300
LABELS = ("s1", "s2", "s3")
WORKER_OPTIONS = ("--no-fsync", "--max-runs", "25", "--ttl", "5")


@pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
async def test_two_workers_complete_300_workflows_exactly_once(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    """Every one of 300 three-step instances completes once, and both processes did work.

    Proves: each step of each instance started and completed exactly once (no instance was claimed by
    both workers: lease epoch 1, no crash takeovers), each history holds exactly its three steps, every
    result is right, and the side-effect log shows both worker pids.
    """
    first, second = await asyncio.gather(
        workers.spawn(*WORKER_OPTIONS, ready=False), workers.spawn(*WORKER_OPTIONS, ready=False)
    )
    await asyncio.gather(first.wait_ready(), second.wait_ready())
    ids = [f"scale-{i}" for i in range(COUNT)]
    async with client(db_url) as app:
        await start_many(app, "pipeline", ids, concurrency=10)
        final = await wait_all_finished(app, ids, workers, timeout=120)

        assert [iid for iid in ids if final[iid].status is not InstanceStatus.COMPLETED] == []
        assert [iid for iid in ids if (final[iid].lease_epoch, final[iid].crash_count) != (1, 0)] == []
        counts = effects.counts()
        for iid in ids:
            n = int(iid.rsplit("-", 1)[1])
            for label in LABELS:
                assert (counts["start", iid, label], counts["done", iid, label]) == (1, 1), (iid, label)
            assert await app.wait_result(iid, timeout=5) == [f"{label}:{n}" for label in LABELS]
            assert [e.position for e in await app.get_history(iid)] == [0, 1, 2]
        assert len(counts) == COUNT * len(LABELS) * 2

        pids_per_instance: dict[str, set[int]] = {iid: set() for iid in ids}
        for effect in effects.read():
            pids_per_instance[effect.instance_id].add(effect.pid)
        assert [iid for iid, pids in pids_per_instance.items() if len(pids) != 1] == []
        assert set().union(*pids_per_instance.values()) == {first.pid, second.pid}
    await asyncio.gather(first.stop(), second.stop())
    first.assert_no_engine_errors()
    second.assert_no_engine_errors()
