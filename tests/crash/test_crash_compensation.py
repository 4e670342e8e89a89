"""SIGKILL during saga compensation, five instances at a time.

The ``saga`` workflow reserves ``s1`` and ``s2`` (each with an ``undo`` compensation), then ``charge``
fails for good, so the compensations run in reverse order: ``undo_s2``, then ``undo_s1``. The first
worker is killed while every instance is inside ``undo_s2``; a second process recovers.
"""

from __future__ import annotations

from durable_core import InstanceStatus, StepKind, StepOutcome, TerminalError, WorkflowFailedError
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

IDS = [f"saga-{i}" for i in range(5)]


async def test_killed_during_compensation(db_url: str, workers: WorkerPool, effects: EffectLog) -> None:
    """Recovery finishes the compensations without re-running recorded steps.

    Proves: the instances end FAILED with the original TerminalError; ``undo_s2`` (interrupted before
    it was journaled) runs again and completes once, ``undo_s1`` runs once, the reservations and the
    failed charge are replayed from history and never re-run; the journal holds each compensation
    once, in reverse order, with the compensated activity's arguments and result.
    """
    async with client(db_url) as app:
        first = await workers.spawn("--hold", "undo_s2")
        await start_many(app, "saga", IDS)

        async def all_compensating() -> bool:
            counts = effects.counts()
            return all(counts["start", iid, "undo_s2"] == 1 for iid in IDS)

        await wait_until(
            all_compensating, "every instance is inside its first compensation", explain=workers.diagnostics
        )
        before = await records(app, IDS)
        for iid in IDS:
            assert before[iid].status is InstanceStatus.COMPENSATING
            assert [e.name for e in await app.get_history(iid)] == ["reserve", "reserve", "charge"]
        await first.kill()

        second = await workers.spawn()
        final = await wait_all_finished(app, IDS, workers)
        counts = effects.counts()
        for iid in IDS:
            n = int(iid.rsplit("-", 1)[1])
            assert final[iid].status is InstanceStatus.FAILED, (iid, final[iid].status)
            error = final[iid].error
            assert error is not None and error.type_name.endswith("TerminalError")
            try:
                await app.wait_result(iid, timeout=5)
            except WorkflowFailedError as exc:
                assert isinstance(exc.__cause__, TerminalError)
                assert f"card declined for order {n}" in str(exc)
            else:
                raise AssertionError("the saga must fail")
            history = await app.get_history(iid)
            assert [(e.kind, e.name, e.outcome) for e in history] == [
                (StepKind.ACTIVITY, "reserve", StepOutcome.OK),
                (StepKind.ACTIVITY, "reserve", StepOutcome.OK),
                (StepKind.ACTIVITY, "charge", StepOutcome.ERROR),
                (StepKind.COMPENSATION, "undo", StepOutcome.OK),
                (StepKind.COMPENSATION, "undo", StepOutcome.OK),
            ]
            undone = [e.result.json_value for e in history[3:]]
            assert undone == [f"undone s2:{n}", f"undone s1:{n}"]
            for label in ("s1", "s2", "undo_s1"):
                assert (counts["start", iid, label], counts["done", iid, label]) == (1, 1), (iid, label)
            assert (counts["start", iid, "undo_s2"], counts["done", iid, "undo_s2"]) == (2, 1)
            assert effects.attempts("start", iid, "undo_s2") == [1, 2]  # the crash counted as an attempt
            assert counts["start", iid, "charge"] == 1
            assert final[iid].crash_count == 1
        await assert_nothing_stranded(app)
        await second.stop()
        second.assert_no_engine_errors()
