"""SIGKILL crash test during concurrent graph branches: completed branch steps never run again.

The first worker stalls the branch of 2 right after its ``fetch`` was committed; the branch of 1 (whose
``fetch`` finished after the branch of 3's) goes on to ``enrich``; then the process is SIGKILLed. The
history holds the three ``fetch`` steps and ``enrich`` of 10. A second process replays them (in position
order, whatever order they finished in) and runs only ``enrich`` of 20 and 30 and ``total``.
"""

from __future__ import annotations

from durable_core import EddaApp, InstanceStatus
from tests.crash.programs.pydantic_graph_parallel_worker import CATALOG, GRAPH_NAME
from tests.crash.support import EffectLog, assert_nothing_stranded, wait_until
from tests.integrations.pydantic_graph.support import Workers

IDS = ["par-1", "par-2"]
WORKER_MODULE = "tests.crash.programs.pydantic_graph_parallel_worker"
FIRST_RUN = ("fetch-1", "fetch-2", "fetch-3", "enrich-10")
SECOND_RUN = ("enrich-20", "enrich-30", "total")


async def test_killed_during_parallel_branches_resumes_without_rerunning_steps(
    db_url: str, workers: Workers
) -> None:
    effects = EffectLog(workers.log)
    app = EddaApp(db_url, "crash-client", workflows=list(CATALOG), run_workers=False)
    await app.initialize()
    try:
        first = await workers.spawn("--pause-after", "fetch-2")
        for iid in IDS:
            await app.start("parallel_pipeline", {}, instance_id=iid)

        async def branches_stalled() -> bool:
            return [len(await app.get_history(iid)) for iid in IDS] == [len(FIRST_RUN)] * len(IDS)

        await wait_until(branches_stalled, "every instance recorded 4 steps", explain=workers.diagnostics)
        await first.kill()
        history = {iid: [e.name for e in await app.get_history(iid)] for iid in IDS}
        assert history == {iid: [f"{GRAPH_NAME}.fetch"] * 3 + [f"{GRAPH_NAME}.enrich"] for iid in IDS}

        second = await workers.spawn()

        async def all_done() -> bool:
            records = [await app.get_instance(iid) for iid in IDS]
            return all(r.status is InstanceStatus.COMPLETED for r in records)

        await wait_until(all_done, "every instance completed", explain=workers.diagnostics)
        counts = effects.counts()
        for iid in IDS:
            done_by = {e.label: e.pid for e in effects.read() if e.instance_id == iid and e.event == "done"}
            assert done_by == {
                **{label: first.pid for label in FIRST_RUN},
                **{label: second.pid for label in SECOND_RUN},
            }, done_by
            for label in FIRST_RUN + SECOND_RUN:
                assert counts["done", iid, label] == 1, (iid, label, counts)
            assert await app.wait_result(iid, timeout=5) == "[11, 21, 31] sum 63 fetched 1=10,2=20,3=30"
        await second.stop()
        second.assert_no_engine_errors()
        await assert_nothing_stranded(app)
    finally:
        await app.shutdown()
