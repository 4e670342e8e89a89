"""A 1-second schedule fired by two worker processes, one of them SIGKILLed half-way.

Both processes wake for every tick; the tick's instance id (schedule id + tick time) and the schedule
row's lock let exactly one of them start it. After the kill the survivor goes on alone. The test
checks, from the stored instances, that every tick between the first and the last started exactly one
instance (no gap, nothing off the cadence) and that every instance completed.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta

from durable_core import EddaApp, InstanceStatus
from tests.crash.support import EffectLog, WorkerPool, client, wait_all_finished, wait_until

TICKS = 10


async def _tick_ids(app: EddaApp) -> list[str]:
    return sorted(
        r.instance_id for r in await app.list_instances(limit=1000) if r.instance_id.startswith("tick@")
    )


def _tick(instance_id: str) -> datetime:
    return datetime.fromisoformat(instance_id.split("@", 1)[1].replace("Z", "+00:00"))


async def test_each_tick_starts_once_across_two_processes_and_a_sigkill(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    doomed = await workers.spawn(ready=False)
    survivor = await workers.spawn(ready=False)
    await asyncio.gather(doomed.wait_ready(), survivor.wait_ready())
    async with client(db_url) as app:
        await app.schedules.create(
            "tick", "pipeline", every=timedelta(seconds=1), args={"n": 7}, catch_up="all", overlap="allow"
        )

        async def count_at_least(n: int) -> bool:
            return len(await _tick_ids(app)) >= n

        await wait_until(
            lambda: count_at_least(TICKS // 2), "half of the ticks fired", 30, workers.diagnostics
        )
        await doomed.kill()
        killed_at = len(await _tick_ids(app))
        await wait_until(lambda: count_at_least(TICKS), f"{TICKS} ticks fired", 30, workers.diagnostics)
        await app.schedules.pause("tick")
        ids = await _tick_ids(app)
        final = await wait_all_finished(app, ids, workers)
        info = await app.schedules.get("tick")
        assert await _tick_ids(app) == ids  # the pause made by this process stopped the workers at once
    await survivor.stop()
    survivor.assert_no_engine_errors()

    ticks = [_tick(iid) for iid in ids]
    assert len(ticks) >= TICKS and len(ticks) > killed_at
    assert all(t.microsecond == 0 for t in ticks)
    assert [b - a for a, b in itertools.pairwise(ticks)] == [timedelta(seconds=1)] * (len(ticks) - 1)
    assert all(r.status is InstanceStatus.COMPLETED for r in final.values()), final
    assert info.last_instance_id == ids[-1] and info.paused
    done = effects.counts()
    assert all(done[("done", iid, "s3")] >= 1 for iid in ids)
