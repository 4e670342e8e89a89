"""SIGKILL and singleton keys: the process running the key's holder dies; the line still runs, once each.

Three ``s1 -> s2 -> s3`` pipelines are started on one singleton key with ``on_conflict="queue"``: the
first holds the key, the other two are QUEUED. A worker runs the holder and is SIGKILLed inside ``s2``.
A fresh worker takes the holder over; when it finishes it hands the key on in its finish transaction,
so the second and then the third run, each exactly once and never two at once.
"""

from __future__ import annotations

import itertools

from durable_core import InstanceStatus
from tests.crash.programs.workflows import pipeline
from tests.crash.support import (
    EffectLog,
    WorkerPool,
    assert_nothing_stranded,
    client,
    records,
    wait_all_finished,
    wait_until,
)


async def test_sigkill_of_the_holder_then_restart_runs_the_line_once_each(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    async with client(db_url) as app:
        first = await workers.spawn("--hold", "s2")
        bound = pipeline.with_options(app=app, singleton_key="acct", on_conflict="queue")
        ids = [await bound.start(n=n) for n in range(3)]
        holder, *line = ids

        def holder_in_s2() -> bool:
            return effects.counts()["start", holder, "s2"] == 1

        await wait_until(holder_in_s2, "the holder is inside s2", explain=workers.diagnostics)
        await first.kill()
        queued = await records(app, line)
        assert {r.status for r in queued.values()} == {InstanceStatus.QUEUED}  # nobody else started

        second = await workers.spawn()  # takes the dead worker's lease over, then serves the line
        final = await wait_all_finished(app, ids, workers, timeout=60)
        assert {r.status for r in final.values()} == {InstanceStatus.COMPLETED}
        assert [await app.wait_result(i) for i in ids] == [
            [f"{s}:{n}" for s in ("s1", "s2", "s3")] for n in range(3)
        ]
        counts = effects.counts()
        assert counts["start", holder, "s1"] == 1 and counts["start", holder, "s2"] == 2  # s2 was interrupted
        for iid in line:  # the line ran exactly once each
            assert [counts["start", iid, s] for s in ("s1", "s2", "s3")] == [1, 1, 1]
            assert [counts["done", iid, s] for s in ("s1", "s2", "s3")] == [1, 1, 1]
        # one run of the key at a time: each run's first step starts after the previous run's last one
        order = [(e.event, e.instance_id, e.label) for e in effects.read()]
        for before, after in itertools.pairwise(ids):
            assert order.index(("done", before, "s3")) < order.index(("start", after, "s1"))
        await second.stop()
        second.assert_no_engine_errors()
        await assert_nothing_stranded(app)
