"""Run control racing two worker processes on one PostgreSQL / MySQL database.

Thirty ``nap_a -> sleep -> nap_b`` instances run on two workers while a client pauses ten of them,
terminates ten others and then unpauses the paused ones, all while the workers are claiming, running
and parking them. What must hold: a terminated instance stays FAILED with the terminate's error (no
worker's late write turns it into COMPLETED, none runs ``nap_b`` after it), paused-then-unpaused and
untouched instances complete with each step done exactly once.
"""

from __future__ import annotations

import asyncio

import pytest

from durable_core import ControlOutcome, InstanceStatus
from tests.crash.support import EffectLog, WorkerPool, client, wait_all_finished

WORKER_OPTIONS = ("--no-fsync", "--max-runs", "25", "--ttl", "3")
IDS = [f"race-{i}" for i in range(30)]


@pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
async def test_pause_unpause_and_terminate_race_two_workers(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    first, second = await asyncio.gather(
        workers.spawn(*WORKER_OPTIONS, ready=False), workers.spawn(*WORKER_OPTIONS, ready=False)
    )
    await asyncio.gather(first.wait_ready(), second.wait_ready())
    paused, terminated = IDS[:10], IDS[10:20]
    async with client(db_url) as app:
        for iid in IDS:
            await app.start("napper", {"n": int(iid.rsplit("-", 1)[1]), "seconds": 0.3}, instance_id=iid)
        outcomes = await asyncio.gather(
            *(app.pause(iid, by="race") for iid in paused),
            *(app.terminate(iid, "race", by="race") for iid in terminated),
        )
        assert set(outcomes) == {ControlOutcome.APPLIED}
        for iid in paused:
            assert (await app.get_instance(iid)).status in (InstanceStatus.PAUSED, InstanceStatus.COMPLETED)
        await asyncio.gather(*(app.unpause(iid, by="race") for iid in paused))
        final = await wait_all_finished(app, IDS, workers, timeout=60)
        for iid in terminated:
            record = final[iid]
            assert record.status is InstanceStatus.FAILED, (iid, record.status)
            assert record.error is not None and record.error.type_name.endswith("WorkflowTerminatedError")
            assert "nap_b" not in [e.name for e in await app.get_history(iid)]
        counts = effects.counts()
        for iid in [*paused, *IDS[20:]]:
            n = int(iid.rsplit("-", 1)[1])
            assert final[iid].status is InstanceStatus.COMPLETED, (iid, final[iid].status, final[iid].error)
            assert await app.wait_result(iid, timeout=5) == [f"nap_a:{n}", f"nap_b:{n}"]
            assert (counts["done", iid, "nap_a"], counts["done", iid, "nap_b"]) == (1, 1), iid
        for iid in terminated:
            assert counts["done", iid, "nap_b"] == 0
    await asyncio.gather(first.stop(), second.stop())
    first.assert_no_engine_errors()
    second.assert_no_engine_errors()
