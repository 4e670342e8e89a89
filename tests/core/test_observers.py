"""Engine observers, operator counts and the status-filtered purge (``OperationsAPI``), on every backend."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from durable_core import (
    Catalog,
    EddaApp,
    InputValidationError,
    InstanceCount,
    InstanceStatus,
    ObserverBase,
    StepObservation,
    TerminalError,
    WorkflowContext,
    activity,
    workflow,
)
from durable_core.observers import Observers


class Recorder(ObserverBase):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def workflow_started(self, workflow: str) -> None:
        self.events.append(("started", workflow))

    def workflow_finished(self, workflow: str, status: InstanceStatus) -> None:
        self.events.append(("finished", workflow, status))

    def step_finished(self, step: StepObservation) -> None:
        self.events.append(("step", step.workflow, step.activity, step.attempts, step.ok))


class Broken(ObserverBase):
    def workflow_started(self, workflow: str) -> None:
        raise RuntimeError("observer bug")


async def test_observers_see_starts_steps_and_ends(
    make_app: Callable[..., Any], catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    @activity
    async def obs_step(ctx: WorkflowContext, fail: bool) -> str:
        if fail:
            raise TerminalError("refused")
        return "ok"

    @workflow(catalog=catalog)
    async def obs_wf(ctx: WorkflowContext, fail: bool) -> str:
        return await obs_step(ctx, fail)

    app: EddaApp = await make_app()
    recorder = Recorder()
    app.observers.add(Broken())  # raises: logged, and neither the run nor the next observer suffers
    app.observers.add(recorder)
    app.observers.add(recorder)  # once only
    assert len(app.observers) == 2
    assert await app.wait_result(await obs_wf.start(fail=False), timeout=20) == "ok"
    with pytest.raises(Exception, match="refused"):
        await app.wait_result(await obs_wf.start(fail=True), timeout=20)
    assert recorder.events == [
        ("started", "obs_wf"),
        ("step", "obs_wf", "obs_step", 1, True),
        ("finished", "obs_wf", InstanceStatus.COMPLETED),
        ("started", "obs_wf"),
        ("step", "obs_wf", "obs_step", 1, False),
        ("finished", "obs_wf", InstanceStatus.FAILED),
    ]
    assert "engine observer" in caplog.text and "observer bug" in caplog.text
    assert app.observers.find(Recorder) is recorder
    app.observers.remove(recorder)
    assert app.observers.find(Recorder) is None


async def test_counts_load_and_status_filtered_purge(make_app: Callable[..., Any], catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def cnt_ok(ctx: WorkflowContext) -> int:
        return 1

    @workflow(catalog=catalog)
    async def cnt_fail(ctx: WorkflowContext) -> None:
        raise TerminalError("no")

    app: EddaApp = await make_app(max_concurrent_runs=9)
    assert await app.count_instances() == []
    for _ in range(2):
        await app.wait_result(await cnt_ok.start(), timeout=20)
    with pytest.raises(Exception, match="no"):
        await app.wait_result(await cnt_fail.start(), timeout=20)
    assert await app.count_instances() == [
        InstanceCount("cnt_fail", InstanceStatus.FAILED, 1),
        InstanceCount("cnt_ok", InstanceStatus.COMPLETED, 2),
    ]
    assert await app.count_outbox() == 0
    load = app.dispatcher_load()
    assert (load.running, load.capacity) == (0, 9)
    with pytest.raises(InputValidationError, match="only finished instances can be purged, not: waiting"):
        await app.purge_instances(timedelta(0), statuses=[InstanceStatus.WAITING])
    with pytest.raises(InputValidationError, match="must not be negative"):
        await app.purge_instances(timedelta(seconds=-1))
    assert await app.purge_instances(timedelta(0), statuses=[InstanceStatus.FAILED]) == 1
    assert await app.count_instances() == [InstanceCount("cnt_ok", InstanceStatus.COMPLETED, 2)]
    assert await app.purge_instances(timedelta(days=1)) == 0


def test_a_bare_fan_out_does_nothing_and_logs_observer_errors(caplog: pytest.LogCaptureFixture) -> None:
    fan_out = Observers()
    fan_out.outbox_delivery_failed("t", final=True)  # nobody attached: nothing happens
    fan_out.add(Broken())
    with caplog.at_level(logging.ERROR):
        fan_out.workflow_started("w")
    assert "observer bug" in caplog.text
