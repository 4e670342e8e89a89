"""SIGKILL and run control: a pause survives the crash of the worker that ran the instance.

A worker runs five ``s1 -> s2 -> s3`` pipelines and holds each inside ``s2``; a client pauses them and
the worker is SIGKILLed. A fresh worker takes over the dead one's leases at start-up, yet runs none of
them: they stay PAUSED (the pause is a flag in the database, not a state of the dead process). After
``unpause`` they complete: ``s1`` never runs again, the interrupted ``s2`` runs once more, ``s3`` once.
"""

from __future__ import annotations

from datetime import timedelta

from durable_core import ControlOutcome, InstanceStatus
from tests.crash.support import (
    EffectLog,
    WorkerPool,
    assert_nothing_stranded,
    client,
    records,
    start_many,
    wait_all_finished,
    wait_until,
)

IDS = [f"paused-{i}" for i in range(5)]


async def test_pause_then_sigkill_then_restart_keeps_it_paused(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    async with client(db_url) as app:
        first = await workers.spawn("--hold", "s2")
        await start_many(app, "pipeline", IDS)

        async def all_in_s2() -> bool:
            counts = effects.counts()
            return all(counts["start", iid, "s2"] == 1 for iid in IDS)

        await wait_until(all_in_s2, "every instance is inside s2", explain=workers.diagnostics)
        for iid in IDS:
            assert await app.pause(iid, by="ops", reason="incident") is ControlOutcome.APPLIED
        await first.kill()

        second = await workers.spawn()  # takes over the dead worker's leases at start-up
        now = app.clock.now()
        probe = await app.storage.claim_runnable(
            "probe", now, timedelta(seconds=1), 10, frozenset({"pipeline"})
        )
        assert probe == []  # exactly the claim the new worker polls with: nothing is claimable
        paused = await records(app, IDS)
        assert {r.status for r in paused.values()} == {InstanceStatus.PAUSED}
        assert [len(await app.get_history(iid)) for iid in IDS] == [1] * len(IDS)  # s1 only
        assert all(effects.counts()["start", iid, "s3"] == 0 for iid in IDS)

        for iid in IDS:
            assert await app.unpause(iid, by="ops") is ControlOutcome.APPLIED
        final = await wait_all_finished(app, IDS, workers)
        counts = effects.counts()
        for iid in IDS:
            n = int(iid.rsplit("-", 1)[1])
            assert final[iid].status is InstanceStatus.COMPLETED
            assert await app.wait_result(iid, timeout=5) == [f"s1:{n}", f"s2:{n}", f"s3:{n}"]
            assert (counts["start", iid, "s1"], counts["start", iid, "s2"], counts["start", iid, "s3"]) == (
                1,
                2,
                1,
            )
        await assert_nothing_stranded(app)
        await second.stop()
        second.assert_no_engine_errors()
