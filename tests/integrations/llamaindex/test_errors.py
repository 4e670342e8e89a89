"""Bad options get clear errors; a failing step fails the durable workflow; replay check passes."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import pytest
from workflows import Context, step
from workflows.events import StartEvent, StopEvent

from durable_core import Catalog, ConfigurationError, EddaApp, WorkflowContext, WorkflowFailedError, workflow
from durable_llamaindex import DurableLlamaWorkflow
from tests.integrations.llamaindex.flows import CountingFlow, LinearFlow


class Broken(CountingFlow):
    @step
    async def explode(self, ctx: Context, ev: StartEvent) -> StopEvent:
        self.counts["explode"] += 1
        raise ValueError(f"cannot handle {ev.topic}")


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="needs a factory"):
        DurableLlamaWorkflow(cast(Any, LinearFlow(Counter())), name="x")
    with pytest.raises(ConfigurationError, match="non-empty name"):
        DurableLlamaWorkflow(lambda: LinearFlow(Counter()), name="")
    with pytest.raises(ConfigurationError, match="HumanResponseEvent subclass"):
        DurableLlamaWorkflow(lambda: LinearFlow(Counter()), name="x", response_event=cast(Any, StopEvent))
    assert DurableLlamaWorkflow(lambda: LinearFlow(Counter()), name="writer").activity_name == "writer.step"


async def test_run_outside_a_workflow_body_is_a_type_error() -> None:
    durable = DurableLlamaWorkflow(lambda: LinearFlow(Counter()), name="writer")
    with pytest.raises(TypeError, match="from a workflow body"):
        await durable.run(cast(WorkflowContext, object()), topic="x")


async def test_a_failing_step_fails_the_durable_workflow(make_app: Any, catalog: Catalog) -> None:
    counts: Counter[str] = Counter()
    durable = DurableLlamaWorkflow(lambda: Broken(counts), name="broken")

    @workflow(catalog=catalog)
    async def run_broken(ctx: WorkflowContext, topic: str) -> str:
        result: str = await durable.run(ctx, topic=topic)
        return result

    app: EddaApp = await make_app()
    iid = await run_broken.start(topic="lava")
    with pytest.raises(WorkflowFailedError, match="cannot handle lava"):
        await app.wait_result(iid, timeout=10)
    assert counts["explode"] == 1


async def test_a_factory_that_returns_something_else_is_named(make_app: Any, catalog: Catalog) -> None:
    durable = DurableLlamaWorkflow(lambda: cast(Any, "not a workflow"), name="odd")

    @workflow(catalog=catalog)
    async def run_odd(ctx: WorkflowContext) -> str:
        result: str = await durable.run(ctx)
        return result

    app: EddaApp = await make_app()
    iid = await run_odd.start()
    with pytest.raises(WorkflowFailedError, match="returned str, not a Workflow"):
        await app.wait_result(iid, timeout=10)


async def test_replay_check_of_finished_runs_passes(make_app: Any, catalog: Catalog) -> None:
    counts: Counter[str] = Counter()
    durable = DurableLlamaWorkflow(lambda: LinearFlow(counts), name="writer")

    @workflow(catalog=catalog)
    async def write(ctx: WorkflowContext, topic: str) -> str:
        result: str = await durable.run(ctx, topic=topic)
        return result

    app: EddaApp = await make_app()
    assert (await write.start_and_wait(topic="owls")).startswith("draft about owls")
    reports = await app.replay_check()
    assert [(r.workflow_name, r.ok) for r in reports] == [("write", True)], reports
    assert counts == Counter(draft=1, review=1, publish=1)  # the check executed nothing
