"""SIGKILL crash recovery of a three-step pipeline (``s1 -> s2 -> s3``), five instances at a time.

A first worker process runs the instances until a chosen point and is SIGKILLed there; a second
process recovers them. Each test proves, from the side-effect log and the stored history, that
every instance completed with the right result, that no step whose result had been recorded ran
again, and that nothing is left unfinished or leased.
"""

from __future__ import annotations

import pytest

from durable_core import EddaApp, InstanceStatus, StepKind, StepOutcome
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

IDS = [f"pipe-{i}" for i in range(5)]
LABELS = ("s1", "s2", "s3")


async def _assert_completed_exactly_once(app: EddaApp, effects: EffectLog, workers: WorkerPool) -> None:
    """Every instance COMPLETED with the right result; each step recorded once and done once."""
    final = await wait_all_finished(app, IDS, workers)
    counts = effects.counts()
    for iid in IDS:
        n = int(iid.rsplit("-", 1)[1])
        record = final[iid]
        assert record.status is InstanceStatus.COMPLETED, (iid, record.status, record.error)
        assert await app.wait_result(iid, timeout=5) == [f"{label}:{n}" for label in LABELS]
        history = await app.get_history(iid)
        assert [(e.position, e.kind, e.name, e.outcome) for e in history] == [
            (i, StepKind.ACTIVITY, "step", StepOutcome.OK) for i in range(3)
        ]
        for label in LABELS:
            assert counts["done", iid, label] == 1, (iid, label, counts)
    await assert_nothing_stranded(app)


@pytest.mark.parametrize("host", ["local", "remote"])
async def test_killed_during_an_activity(
    db_url: str, workers: WorkerPool, effects: EffectLog, host: str
) -> None:
    """SIGKILL while ``s2`` runs: recovery re-runs only ``s2`` (its side effect never completed).

    ``local``: the recovering process sees the dead owner's pid on this host and takes its leases at
    start-up. ``remote``: the killed worker posed as another host, so recovery must wait for the
    leases to expire. Either way the interrupted attempt counts: ``s2`` restarts as attempt 2.
    """
    async with client(db_url) as app:
        first = await workers.spawn(
            "--hold", "s2", *(["--host", "edda-remote-host"] if host == "remote" else [])
        )
        await start_many(app, "pipeline", IDS)

        async def all_in_s2() -> bool:
            counts = effects.counts()
            return all(counts["start", iid, "s2"] == 1 for iid in IDS)

        await wait_until(all_in_s2, "every instance is inside s2", explain=workers.diagnostics)
        before = await records(app, IDS)
        for iid in IDS:
            assert before[iid].status is InstanceStatus.RUNNING
            assert before[iid].lease_owner == first.worker_id
            assert len(await app.get_history(iid)) == 1  # s1 recorded, s2 not
        if host == "remote":
            assert first.worker_id.startswith("edda-remote-host:")
        await first.kill()

        second = await workers.spawn()
        await _assert_completed_exactly_once(app, effects, workers)
        counts = effects.counts()
        final = await records(app, IDS)
        for iid in IDS:
            assert counts["start", iid, "s1"] == 1
            assert counts["start", iid, "s2"] == 2  # interrupted once, then completed once
            assert effects.attempts("start", iid, "s2") == [1, 2]
            assert final[iid].crash_count == 1
            assert final[iid].lease_epoch == 2
        await second.stop()
        second.assert_no_engine_errors()


async def test_killed_between_a_commit_and_the_next_step(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    """SIGKILL after ``s1``'s history entry committed and before ``s2`` started: ``s1`` never re-runs."""
    async with client(db_url) as app:
        first = await workers.spawn("--pause-after", "s1")
        await start_many(app, "pipeline", IDS)

        async def s1_committed_everywhere() -> bool:
            histories = [await app.get_history(iid) for iid in IDS]
            return all([e.name for e in history] == ["step"] for history in histories)

        await wait_until(
            s1_committed_everywhere, "s1 is recorded for every instance", explain=workers.diagnostics
        )
        counts = effects.counts()
        for iid in IDS:
            assert counts["done", iid, "s1"] == 1 and counts["start", iid, "s2"] == 0
        await first.kill()

        second = await workers.spawn()
        await _assert_completed_exactly_once(app, effects, workers)
        counts = effects.counts()
        for iid in IDS:
            for label in LABELS:
                assert counts["start", iid, label] == 1, (iid, label)
            assert (await app.get_instance(iid)).crash_count == 1
        await second.stop()
        second.assert_no_engine_errors()
