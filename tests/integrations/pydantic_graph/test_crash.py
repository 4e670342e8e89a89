"""SIGKILL crash test: a 4-step graph killed after step 2 resumes in another process with steps 3 and 4 only.

The first worker process stalls each instance right after ``s2``'s history entry was committed and is
SIGKILLed there; a second process recovers the instances. The side-effect log proves ``s1`` and ``s2``
never ran again and ``s3``/``s4`` ran once, in the second process; the result proves ``s3`` and ``s4``
saw the state built by ``s1`` and ``s2`` (nested dataclasses and Pydantic models, rebuilt from JSON).
"""

from __future__ import annotations

from durable_core import EddaApp, InstanceStatus, StepKind
from tests.crash.programs.pydantic_graph_worker import CATALOG, GRAPH_NAME, LABELS
from tests.crash.support import EffectLog, assert_nothing_stranded, wait_until
from tests.integrations.pydantic_graph.support import Workers

IDS = [f"graph-{i}" for i in range(1, 4)]
WORKER_MODULE = "tests.crash.programs.pydantic_graph_worker"


async def test_killed_after_step_2_resumes_with_steps_3_and_4_only(db_url: str, workers: Workers) -> None:
    effects = EffectLog(workers.log)
    app = EddaApp(db_url, "crash-client", workflows=list(CATALOG), run_workers=False)
    await app.initialize()
    try:
        first = await workers.spawn("--pause-after", "s2")
        for n, iid in enumerate(IDS, start=1):
            await app.start("graph_pipeline", {"n": n}, instance_id=iid)

        async def all_paused_after_s2() -> bool:
            return [len(await app.get_history(iid)) for iid in IDS] == [2] * len(IDS)

        await wait_until(all_paused_after_s2, "every instance recorded s2", explain=workers.diagnostics)
        assert not [e for e in effects.read() if e.label in ("s3", "s4")]
        await first.kill()

        second = await workers.spawn()

        async def all_done() -> bool:
            records = [await app.get_instance(iid) for iid in IDS]
            return all(r.status is InstanceStatus.COMPLETED for r in records)

        await wait_until(all_done, "every instance completed", explain=workers.diagnostics)
        counts = effects.counts()
        for n, iid in enumerate(IDS, start=1):
            for label in LABELS:
                assert counts["start", iid, label] == 1, (iid, label, counts)
                assert counts["done", iid, label] == 1, (iid, label, counts)
            by_label = {e.label: e.pid for e in effects.read() if e.instance_id == iid and e.event == "done"}
            assert by_label == {"s1": first.pid, "s2": first.pid, "s3": second.pid, "s4": second.pid}
            # s3 summed s1's and s2's ledger entries (n*100 + n*200); s4 read every stamp from the state.
            assert await app.wait_result(iid, timeout=5) == (
                f"2 entries, total {n * 300} EUR; pids {first.pid},{first.pid},{second.pid},{second.pid}"
            )
            history = await app.get_history(iid)
            assert [(e.kind, e.name) for e in history] == [
                (StepKind.ACTIVITY, f"{GRAPH_NAME}.{label}") for label in LABELS
            ]
        await second.stop()
        second.assert_no_engine_errors()
        await assert_nothing_stranded(app)
    finally:
        await app.shutdown()
