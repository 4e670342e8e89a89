"""SIGKILL crash tests during concurrent graph branches: completed branch steps never run again.

In each instance ``fetch`` of 1 finishes after ``fetch`` of 3. Two places to kill the first worker:

- the branch of 2 stalls right after its ``fetch`` was committed; the branch of 1 goes on to ``enrich``.
  The history holds the three ``fetch`` steps and ``enrich`` of 10; the second process replays them (in
  position order, whatever order they finished in) and runs only ``enrich`` of 20 and 30 and ``total``.
- ``enrich`` of 10 stalls in its body: its position stays empty while ``enrich`` of 20 and 30 record
  theirs after it. The second process runs ``enrich`` of 10 again in that empty position (it never
  finished), replays the others, and runs ``total``.
"""

from __future__ import annotations

import pytest

from durable_core import EddaApp, InstanceStatus
from tests.crash.programs.pydantic_graph_parallel_worker import CATALOG, GRAPH_NAME
from tests.crash.support import EffectLog, assert_nothing_stranded, wait_until
from tests.integrations.pydantic_graph.support import Workers

IDS = ["par-1", "par-2"]
WORKER_MODULE = "tests.crash.programs.pydantic_graph_parallel_worker"
FETCH, ENRICH = f"{GRAPH_NAME}.fetch", f"{GRAPH_NAME}.enrich"
SCENARIOS = {
    # pause option: (steps done in the first process, steps done in the second, history at the kill)
    "fetch-2": (
        ("fetch-1", "fetch-2", "fetch-3", "enrich-10"),
        ("enrich-20", "enrich-30", "total"),
        [(0, FETCH), (1, FETCH), (2, FETCH), (3, ENRICH)],
    ),
    "in:enrich-10": (
        ("fetch-1", "fetch-2", "fetch-3", "enrich-20", "enrich-30"),
        ("enrich-10", "total"),
        [(0, FETCH), (1, FETCH), (2, FETCH), (4, ENRICH), (5, ENRICH)],
    ),
}


@pytest.mark.parametrize("pause", list(SCENARIOS))
async def test_killed_during_parallel_branches_resumes_without_rerunning_steps(
    db_url: str, workers: Workers, pause: str
) -> None:
    first_run, second_run, at_kill = SCENARIOS[pause]
    effects = EffectLog(workers.log)
    app = EddaApp(db_url, "crash-client", workflows=list(CATALOG), run_workers=False)
    await app.initialize()
    try:
        first = await workers.spawn("--pause-after", pause)
        for iid in IDS:
            await app.start("parallel_pipeline", {}, instance_id=iid)

        async def branches_stalled() -> bool:
            return [len(await app.get_history(iid)) for iid in IDS] == [len(at_kill)] * len(IDS)

        await wait_until(branches_stalled, "every instance recorded its steps", explain=workers.diagnostics)
        await first.kill()
        history = {iid: [(e.position, e.name) for e in await app.get_history(iid)] for iid in IDS}
        assert history == dict.fromkeys(IDS, at_kill)

        second = await workers.spawn()

        async def all_done() -> bool:
            records = [await app.get_instance(iid) for iid in IDS]
            return all(r.status is InstanceStatus.COMPLETED for r in records)

        await wait_until(all_done, "every instance completed", explain=workers.diagnostics)
        counts = effects.counts()
        for iid in IDS:
            done_by = {e.label: e.pid for e in effects.read() if e.instance_id == iid and e.event == "done"}
            assert done_by == {
                **{label: first.pid for label in first_run},
                **{label: second.pid for label in second_run},
            }, done_by
            for label in first_run + second_run:
                assert counts["done", iid, label] == 1, (iid, label, counts)
            assert await app.wait_result(iid, timeout=5) == "[11, 21, 31] sum 63 fetched 1=10,2=20,3=30"
        await second.stop()
        second.assert_no_engine_errors()
        await assert_nothing_stranded(app)
    finally:
        await app.shutdown()
