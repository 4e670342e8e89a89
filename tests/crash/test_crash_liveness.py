"""Two replicas on one PostgreSQL / MySQL database: a dead one is taken over within seconds.

Both worker processes run with a 60 s lease, so only the liveness heartbeat (``liveness_ttl`` 2-4 s)
can explain a fast takeover. They pose as different hosts, so the start-up takeover of dead local
processes cannot apply either. SQLite is one host only and runs no heartbeat (see docs/storage.md).
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from durable_core import InstanceStatus
from durable_core.clock import monotonic
from durable_core.storage.liveness import SqlLiveness
from tests.crash.support import (
    EffectLog,
    WorkerPool,
    WorkerProcess,
    assert_nothing_stranded,
    client,
    records,
    start_many,
    wait_all_finished,
    wait_until,
)

pytestmark = pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)

IDS = [f"live-{i}" for i in range(5)]
LEASE_TTL = "60"
#: documented bound: liveness_ttl + poll_interval (2 s + 0.1 s here); generous for a loaded machine
TAKEOVER_BOUND_S = 15.0


@pytest.fixture
async def liveness(db_url: str) -> AsyncIterator[SqlLiveness]:
    """Reads the workers' heartbeat rows (by the database's clock)."""
    store = SqlLiveness(db_url)
    try:
        yield store
    finally:
        await store.close()


async def _replica(workers: WorkerPool, host: str, liveness_ttl: float, *options: str) -> WorkerProcess:
    return await workers.spawn(
        "--host", host, "--ttl", LEASE_TTL, "--liveness-ttl", str(liveness_ttl), *options
    )


async def _first_holds_everything_in_s2(
    workers: WorkerPool, effects: EffectLog, liveness_ttl: float
) -> WorkerProcess:
    first = await _replica(workers, "replica-a", liveness_ttl, "--hold", "s2")
    async with client(workers.db_url) as app:
        await start_many(app, "pipeline", IDS)

        def all_in_s2() -> bool:
            counts = effects.counts()
            return all(counts["start", iid, "s2"] == 1 for iid in IDS)

        await wait_until(all_in_s2, "every instance is inside s2", explain=workers.diagnostics)
        assert {r.lease_owner for r in (await records(app, IDS)).values()} == {first.worker_id}
    return first


async def test_a_killed_replica_is_taken_over_within_the_liveness_ttl(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    """SIGKILL mid-activity: the other, already running replica continues in seconds, not after 60 s.

    Completed steps (``s1``) never run again; the interrupted ``s2`` runs again as attempt 2.
    """
    first = await _first_holds_everything_in_s2(workers, effects, liveness_ttl=2.0)
    second = await _replica(workers, "replica-b", 2.0)
    async with client(db_url) as app:
        killed_at = monotonic()
        await first.kill()

        async def taken_over() -> bool:
            return all(r.lease_owner != first.worker_id for r in (await records(app, IDS)).values())

        await wait_until(taken_over, "the second replica took over", TAKEOVER_BOUND_S, workers.diagnostics)
        elapsed = monotonic() - killed_at
        assert elapsed < TAKEOVER_BOUND_S < float(LEASE_TTL)

        final = await wait_all_finished(app, IDS, workers)
        counts = effects.counts()
        for iid in IDS:
            n = int(iid.rsplit("-", 1)[1])
            assert final[iid].status is InstanceStatus.COMPLETED, (iid, final[iid].error)
            assert await app.wait_result(iid, timeout=5) == [f"s1:{n}", f"s2:{n}", f"s3:{n}"]
            assert [e.position for e in await app.get_history(iid)] == [0, 1, 2]
            assert counts["start", iid, "s1"] == 1  # recorded before the kill: never re-run
            assert effects.attempts("start", iid, "s2") == [1, 2]
            assert (final[iid].lease_epoch, final[iid].crash_count) == (2, 1)
        assert {e.pid for e in effects.read() if e.label == "s3"} == {second.pid}
        await assert_nothing_stranded(app)
    await second.stop()
    second.assert_no_engine_errors()


async def test_a_paused_replica_is_not_taken_over(
    db_url: str, workers: WorkerPool, effects: EffectLog, liveness: SqlLiveness
) -> None:
    """SIGSTOP for less than ``liveness_ttl``: the other replica polls all along but takes nothing."""
    ttl = 4.0
    first = await _first_holds_everything_in_s2(workers, effects, liveness_ttl=ttl)
    second = await _replica(workers, "replica-b", ttl)
    paused = timedelta(seconds=1)

    async def expires_in() -> timedelta:
        left = await liveness.expires_in(first.worker_id)
        assert left is not None
        return left

    first.proc.send_signal(signal.SIGSTOP)
    try:
        # paused until, by the database's clock, its last beat is at least 1 s old (of the 4 s TTL)
        async def beat_is_stale() -> bool:
            return await expires_in() <= timedelta(seconds=ttl) - paused

        await wait_until(beat_is_stale, "the paused replica's heartbeat is 1 s old", 10, workers.diagnostics)
    finally:
        first.proc.send_signal(signal.SIGCONT)

    async def beats_again() -> bool:
        return await expires_in() > timedelta(seconds=ttl) - paused

    await wait_until(beats_again, "the resumed replica beats again", 10, workers.diagnostics)
    async with client(db_url) as app:
        for record in (await records(app, IDS)).values():
            assert (record.lease_owner, record.lease_epoch, record.crash_count) == (first.worker_id, 1, 0)
        assert {e.pid for e in effects.read()} == {first.pid}  # the second replica ran nothing

        await first.stop()  # graceful: its held runs are cancelled and their leases released
        await wait_all_finished(app, IDS, workers)
        for record in (await records(app, IDS)).values():
            assert record.status is InstanceStatus.COMPLETED and record.crash_count == 0
        counts = effects.counts()
        assert all(counts["start", iid, "s1"] == 1 for iid in IDS)
        await assert_nothing_stranded(app)
    await second.stop()
    first.assert_no_engine_errors()
    second.assert_no_engine_errors()
