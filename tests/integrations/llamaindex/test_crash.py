"""SIGKILL crash tests of durable LlamaIndex workflows: linear, fan-out/fan-in and human in the loop.

A first worker process runs the instances until a chosen checkpoint is committed and is SIGKILLed
there (or, for human in the loop, while the instance waits); a second process finishes them. The side-
effect log counts step executions: every step whose checkpoint was recorded before the kill ran exactly
once, in the first process, and the ``ctx.store`` trail shows the second process continued the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from durable_core import EddaApp, InstanceStatus
from durable_llamaindex import Checkpoint
from tests.crash.programs.llamaindex_worker import CATALOG, RESPONSE_TYPE
from tests.crash.support import EffectLog, assert_nothing_stranded, wait_until
from tests.integrations.llamaindex.support import Workers

WORKER_MODULE = "tests.crash.programs.llamaindex_worker"


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[EddaApp]:
    app = EddaApp(db_url, "crash-client", workflows=list(CATALOG), run_workers=False)
    await app.initialize()
    try:
        yield app
    finally:
        await app.shutdown()


async def checkpoints(app: EddaApp, iid: str) -> list[Checkpoint]:
    """The recorded checkpoints of an instance, in order."""
    return [
        Checkpoint.model_validate(e.result.json_value)
        for e in await app.get_history(iid)
        if e.name.endswith(".step")
    ]


async def wait_checkpointed(app: EddaApp, ids: list[str], step: str, workers: Workers) -> None:
    async def reached() -> bool:
        for iid in ids:
            if not any(c.step == step for c in await checkpoints(app, iid)):
                return False
        return True

    await wait_until(reached, f"every instance checkpointed {step}", explain=workers.diagnostics)


async def wait_completed(app: EddaApp, ids: list[str], workers: Workers) -> None:
    async def done() -> bool:
        return [(await app.get_instance(iid)).status for iid in ids] == [InstanceStatus.COMPLETED] * len(ids)

    await wait_until(done, "every instance completed", explain=workers.diagnostics)


async def test_linear_flow_killed_after_s2_runs_only_s3_and_s4_again(
    client: EddaApp, workers: Workers
) -> None:
    effects = EffectLog(workers.log)
    ids = [f"linear-{n}" for n in range(1, 4)]
    first = await workers.spawn("--pause-after", "s2")
    for n, iid in enumerate(ids, start=1):
        await client.start("li_linear", {"n": n}, instance_id=iid)
    await wait_checkpointed(client, ids, "s2", workers)
    assert not [e for e in effects.read() if e.label in ("s3", "s4")]  # paused: s3 has not started
    await first.kill()

    second = await workers.spawn()
    await wait_completed(client, ids, workers)
    counts = effects.counts()
    for n, iid in enumerate(ids, start=1):
        for label in ("s1", "s2", "s3", "s4"):
            assert counts["start", iid, label] == counts["done", iid, label] == 1, (iid, label, counts)
        ran_in = {e.label: e.pid for e in effects.read() if e.instance_id == iid and e.event == "done"}
        assert ran_in == {"s1": first.pid, "s2": first.pid, "s3": second.pid, "s4": second.pid}
        trail = f"s1:{first.pid} s2:{first.pid} s3:{second.pid} s4:{second.pid}"
        assert await client.wait_result(iid, timeout=5) == f"{n * 10 + 1} via {trail}"
    await second.stop()
    second.assert_no_engine_errors()
    await assert_nothing_stranded(client)


async def test_fan_out_fan_in_killed_after_the_first_branch_reruns_only_unrecorded_branches(
    client: EddaApp, workers: Workers
) -> None:
    effects = EffectLog(workers.log)
    ids = [f"fan-{n}" for n in range(1, 3)]
    first = await workers.spawn("--pause-after", "work")
    for iid in ids:
        await client.start("li_fan", {}, instance_id=iid)
    await wait_checkpointed(client, ids, "work", workers)
    recorded_before_kill = {iid: await checkpoints(client, iid) for iid in ids}
    await first.kill()

    second = await workers.spawn()
    await wait_completed(client, ids, workers)
    counts = effects.counts()
    for iid in ids:
        assert await client.wait_result(iid, timeout=5) == "sum 600 of [0, 1, 2]"
        recorded = recorded_before_kill[iid]
        assert [c.step for c in recorded] == ["split", "work"]
        branch = recorded[1].output_events[0]["value"]["index"]  # the branch whose result was recorded
        assert counts["done", iid, "split"] == 1 and counts["start", iid, "split"] == 1
        assert counts["start", iid, f"work-{branch}"] == 1 and counts["done", iid, f"work-{branch}"] == 1
        for other in {0, 1, 2} - {branch}:  # unrecorded branches may have run in the killed process too
            assert 1 <= counts["done", iid, f"work-{other}"] <= 2
            assert [
                e.pid
                for e in effects.read()
                if (e.event, e.instance_id, e.label) == ("done", iid, f"work-{other}")
            ][-1] == second.pid
        assert counts["done", iid, "join"] == 1
        final = await checkpoints(client, iid)
        steps = [c.step or "end" for c in final]
        # one checkpoint per finished step: split once, each branch once, join once per arriving result
        assert (steps.count("split"), steps.count("work"), steps[-1]) == (1, 3, "end")
        assert steps.count("join") >= 2
    await second.stop()
    await assert_nothing_stranded(client)


async def test_human_in_the_loop_survives_a_kill_while_waiting(client: EddaApp, workers: Workers) -> None:
    effects = EffectLog(workers.log)
    iid = "approval-1"
    first = await workers.spawn()
    await client.start("li_approval", {"amount": 250}, instance_id=iid)

    async def parked() -> bool:
        record = await client.get_instance(iid)
        return record.status is InstanceStatus.WAITING and record.lease_owner is None

    await wait_until(parked, "the instance waits for the human", explain=workers.diagnostics)
    wait = await client.get_wait(iid)
    assert wait is not None and wait.event_types == (RESPONSE_TYPE,)
    await first.kill()  # nothing in memory is lost: the instance waits in the database

    await client.send_event(RESPONSE_TYPE, "reviewer", {"response": "approved"}, instance_id=iid)
    second = await workers.spawn()
    await wait_completed(client, [iid], workers)
    assert await client.wait_result(iid, timeout=5) == "approved for 250"
    counts = effects.counts()
    assert counts["done", iid, "prepare"] == counts["start", iid, "prepare"] == 1
    assert counts["done", iid, "decide"] == counts["start", iid, "decide"] == 1
    ran_in = {e.label: e.pid for e in effects.read() if e.event == "done"}
    assert ran_in == {"prepare": first.pid, "decide": second.pid}
    await second.stop()
    second.assert_no_engine_errors()
    await assert_nothing_stranded(client)
