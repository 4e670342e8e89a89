"""SIGKILL crash tests: a pydantic-ai agent killed mid-request or mid-tool re-runs only that step.

The worker's scripted model asks for the tool ``charge`` and then answers (``model1 -> tool ->
model2``). The first worker process stalls inside one step (after its ``start`` line) and is
SIGKILLed there; a second process recovers the instance. The side-effect log proves every step that
completed before the kill ran exactly once, and only the in-flight step ran again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durable_core import EddaApp, InstanceStatus, StepKind
from tests.crash.programs.pydantic_ai_worker import CATALOG, LABELS
from tests.crash.support import EffectLog, assert_nothing_stranded, wait_until
from tests.integrations.pydantic_graph.support import Workers

MODULE = "tests.crash.programs.pydantic_ai_worker"


@pytest.fixture
async def workers(db_url: str, tmp_path: Path) -> AsyncIterator[Workers]:
    async with Workers(MODULE, db_url, tmp_path / "effects.log", tmp_path) as pool:
        yield pool


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("stall_in", ["tool", "model2"])
async def test_killed_in_flight_reruns_only_that_step(db_url: str, workers: Workers, stall_in: str) -> None:
    effects = EffectLog(workers.log)
    app = EddaApp(db_url, "crash-client", workflows=list(CATALOG), run_workers=False)
    await app.initialize()
    iid = f"pai-{stall_in}"
    try:
        first = await workers.spawn("--pause-after", stall_in)
        await app.start("pay", {}, instance_id=iid)

        def stalled() -> bool:
            return effects.counts()["start", iid, stall_in] == 1

        await wait_until(stalled, f"{stall_in} started", explain=workers.diagnostics)
        await first.kill()
        second = await workers.spawn()

        async def done() -> bool:
            return (await app.get_instance(iid)).status is InstanceStatus.COMPLETED

        await wait_until(done, "instance completed", explain=workers.diagnostics)
        counts = effects.counts()
        killed_at = LABELS.index(stall_in)
        for position, label in enumerate(LABELS):
            expected_starts = 2 if label == stall_in else 1
            assert counts["start", iid, label] == expected_starts, (label, counts)
            assert counts["done", iid, label] == 1, (label, counts)
            done_pid = next(e.pid for e in effects.read() if (e.event, e.label) == ("done", label))
            assert done_pid == (first.pid if position < killed_at else second.pid), label
        assert await app.wait_result(iid, timeout=5) == f"charged, pid {second.pid}"
        activities = [e.name for e in await app.get_history(iid) if e.kind is StepKind.ACTIVITY]
        assert activities == [
            "crash_agent__model.request",
            "crash_agent__function_toolset__<agent>.call_tool:charge",
            "crash_agent__model.request",
        ]
        await second.stop()
        second.assert_no_engine_errors()
        await assert_nothing_stranded(app)
    finally:
        await app.shutdown()
