"""DurableLlamaWorkflow: checkpoints per step, replay without re-running steps, fan-out/fan-in, streaming."""

from __future__ import annotations

from collections import Counter
from typing import Any

from workflows.events import Event, StopEvent

from durable_core import (
    Catalog,
    EddaApp,
    FakeClock,
    InstanceStatus,
    StepKind,
    WorkflowContext,
    sleep,
    workflow,
)
from durable_llamaindex import Checkpoint, CheckpointKind, DurableLlamaWorkflow
from tests.integrations.llamaindex.flows import FanFlow, LinearFlow, Progress
from tests.integrations.llamaindex.support import wait_status


async def test_linear_flow_replays_without_running_steps_again(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    counts: Counter[str] = Counter()
    streamed: list[Event] = []
    durable = DurableLlamaWorkflow(lambda: LinearFlow(counts), name="writer")

    @workflow(catalog=catalog)
    async def write(ctx: WorkflowContext, topic: str) -> str:
        result: str = await durable.run(ctx, topic=topic, on_event=streamed.append)
        await sleep(ctx, 60)  # park: the resume replays the whole LlamaIndex run from history
        return result

    app: EddaApp = await make_app()
    iid = await write.start(topic="otters")
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(61)
    result = await app.wait_result(iid, timeout=10)

    assert result == "draft about otters (score 18; drafted, reviewed)"
    assert counts == Counter(draft=1, review=1, publish=1)
    assert [type(ev) for ev in streamed] == [Progress, StopEvent]
    assert isinstance(streamed[0], Progress) and streamed[0].message == "drafting done"
    history = [e for e in await app.get_history(iid) if e.kind is StepKind.ACTIVITY]
    assert [e.name for e in history] == ["writer.step"] * 3
    records = [Checkpoint.model_validate(e.result.json_value) for e in history]
    assert [(r.kind, r.step) for r in records] == [
        (CheckpointKind.STEP, "draft"),
        (CheckpointKind.STEP, "review"),
        (CheckpointKind.DONE, None),
    ]
    replayed = durable.published_events([e.result.json_value for e in history])
    assert [type(ev) for ev in replayed] == [Progress, StopEvent]


async def test_fan_out_and_fan_in(make_app: Any, catalog: Catalog, clock: FakeClock) -> None:
    counts: Counter[str] = Counter()
    durable = DurableLlamaWorkflow(lambda: FanFlow(counts), name="summaries")

    @workflow(catalog=catalog)
    async def summarize_all(ctx: WorkflowContext, parts: list[str]) -> str:
        result: str = await durable.run(ctx, parts=parts)
        await sleep(ctx, 5)
        return result

    app: EddaApp = await make_app()
    iid = await summarize_all.start(parts=["a", "b", "c"])
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(6)
    assert await app.wait_result(iid, timeout=10) == "A B C"
    assert counts == Counter({"split": 1, "summarize 0": 1, "summarize 1": 1, "summarize 2": 1, "combine": 1})
