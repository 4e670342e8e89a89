"""Progress reports user-visible steps: the last completed one, the running activity or the awaited thing,
and a count that leaves out the internal ctx.now()/uuid()/random() values."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from durable_core import (
    Catalog,
    EddaApp,
    InstanceNotFoundError,
    InstanceProgress,
    InstanceStatus,
    WorkflowContext,
    activity,
    wait_event,
    workflow,
)


async def _until(app: EddaApp, iid: str, check: Callable[[InstanceProgress], bool]) -> InstanceProgress:
    """Poll the progress (bounded) until ``check`` holds; return it."""
    async with asyncio.timeout(10):
        while True:
            progress = await app.handle(iid).progress()
            if check(progress):
                return progress
            await asyncio.sleep(0.01)  # re-read; bounded by the timeout above


async def test_progress_names_the_running_activity_then_the_awaited_event(make_app, catalog: Catalog) -> None:
    release = asyncio.Event()

    @activity
    async def reserve(ctx: WorkflowContext) -> str:
        return "reserved"

    @activity
    async def charge(ctx: WorkflowContext) -> str:
        await release.wait()
        return "charged"

    @workflow(catalog=catalog)
    async def order(ctx: WorkflowContext) -> str:
        ctx.now()
        ctx.uuid()
        await reserve(ctx)
        ctx.random()
        await charge(ctx)
        approval = await wait_event(ctx, "order.approved")
        return str(approval.data)

    app = await make_app()
    iid = await order.start()
    running = await _until(app, iid, lambda p: p.current_step == "charge")
    assert running == InstanceProgress(
        steps_completed=1, last_completed_step="reserve", current_step="charge"
    )

    release.set()
    waiting = await _until(app, iid, lambda p: p.current_step is not None and "event" in p.current_step)
    assert waiting.current_step == "event 'order.approved'"
    assert (waiting.steps_completed, waiting.last_completed_step) == (2, "charge")
    assert (await app.get_instance(iid)).status is InstanceStatus.WAITING

    await app.send_event("order.approved", "test", "yes", instance_id=iid)
    assert await app.handle(iid).result(timeout=10) == "yes"
    done = await app.handle(iid).progress()
    assert done == InstanceProgress(
        steps_completed=3, last_completed_step="wait_event:order.approved", current_step=None
    )
    assert len(await app.get_history(iid)) == 6  # now, uuid and random are recorded, just not counted


async def test_progress_of_an_unknown_instance_is_not_found(make_app) -> None:
    app = await make_app()
    with pytest.raises(InstanceNotFoundError):
        await app.handle("no-such-instance").progress()
