"""wait_event / send_event: mailbox and by-type delivery, timeouts on the fake clock, models, bytes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from durable_core import (
    Catalog,
    EddaApp,
    EventTimeoutError,
    FakeClock,
    InstanceNotFoundError,
    InstanceStatus,
    ReceivedEvent,
    StepKind,
    WorkflowContext,
    activity,
    send_event,
    wait_event,
    workflow,
)
from durable_core.storage.schema import MESSAGES


async def wait_status(app: EddaApp, iid: str, status: InstanceStatus) -> None:
    """Wait (bounded) until the instance reaches ``status`` and no local run holds it."""
    async with asyncio.timeout(10):
        while True:
            record = await app.get_instance(iid)
            if record.status is status and iid not in app._dispatcher.running:
                return
            await asyncio.sleep(0.01)  # re-read the row; bounded by the timeout above


class Payment(BaseModel):
    order_id: str
    amount: float


async def test_event_to_an_instance_waits_in_its_mailbox(make_app, catalog: Catalog) -> None:
    """An addressed event sent before the wait starts is kept and taken by the wait."""
    gate = asyncio.Event()

    @activity
    async def hold(ctx: WorkflowContext) -> None:
        await asyncio.wait_for(gate.wait(), 10)

    @workflow(catalog=catalog)
    async def pay(ctx: WorkflowContext, order_id: str) -> dict[str, Any]:
        await hold(ctx)
        event = await wait_event(ctx, "payment.completed", model=Payment)
        return {"amount": event.data.amount, "source": event.metadata.source, "ext": event.extensions}

    app = await make_app()
    iid = await pay.start(order_id="o1")
    await app.send_event(
        "payment.completed",
        "psp",
        {"order_id": "o1", "amount": 12.5},
        instance_id=iid,
        extensions={"tenant": "acme"},
    )
    gate.set()
    assert await app.wait_result(iid, timeout=10) == {
        "amount": 12.5,
        "source": "psp",
        "ext": {"tenant": "acme"},
    }
    kinds = [e.kind for e in await app.get_history(iid)]
    assert kinds == [StepKind.ACTIVITY, StepKind.WAIT]


async def test_event_by_type_reaches_every_waiting_instance_only(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def waiter(ctx: WorkflowContext, n: int) -> str:
        event = await wait_event(ctx, "go")
        return f"{n}:{event.data['word']}"

    app = await make_app()
    ids = [await waiter.start(n=n) for n in range(3)]
    for iid in ids:
        await wait_status(app, iid, InstanceStatus.WAITING)
    info = await app.get_wait(ids[0])
    assert info is not None and info.event_types == ("go",)
    await app.send_event("go", "test", {"word": "hi"})
    assert [await app.wait_result(i, timeout=10) for i in ids] == ["0:hi", "1:hi", "2:hi"]
    # a by-type event with nobody waiting is not kept for later waiters
    await app.send_event("go", "test", {"word": "stale"})
    late = await waiter.start(n=9)
    await wait_status(app, late, InstanceStatus.WAITING)
    await app.send_event("go", "test", {"word": "fresh"})
    assert await app.wait_result(late, timeout=10) == "9:fresh"


async def test_wait_event_timeout_on_the_fake_clock(make_app, catalog: Catalog) -> None:
    clock = FakeClock()

    @workflow(catalog=catalog)
    async def patient(ctx: WorkflowContext) -> str:
        try:
            await wait_event(ctx, "never", timeout_seconds=60)
        except EventTimeoutError:
            return "timed out"
        return "got it"

    app = await make_app(clock=clock)
    iid = await patient.start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    info = await app.get_wait(iid)
    assert info is not None and info.wake_at is not None
    clock.advance(59)
    assert (await app.get_instance(iid)).status is InstanceStatus.WAITING
    clock.advance(2)
    assert await app.wait_result(iid, timeout=10) == "timed out"
    # an addressed event after the timeout is not an error: there is nobody to take it
    await app.send_event("never", "test", {}, instance_id=iid)


async def test_event_before_timeout_wins_and_bytes_stay_bytes(make_app, catalog: Catalog) -> None:
    clock = FakeClock()

    @workflow(catalog=catalog)
    async def blob(ctx: WorkflowContext) -> bytes:
        event: ReceivedEvent[Any] = await wait_event(ctx, "blob", timeout_seconds=3600)
        assert event.metadata.data_content_type == "application/octet-stream"
        return bytes(event.data)

    app = await make_app(clock=clock)
    iid = await blob.start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    await app.send_event("blob", "test", b"\x00\x01raw\n", instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == b"\x00\x01raw\n"
    reports = await app.replay_check(limit=5)
    assert all(r.ok for r in reports), reports


async def test_send_event_from_a_workflow_is_journaled(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def listener(ctx: WorkflowContext) -> str:
        return str((await wait_event(ctx, "ping")).data["from"])

    @workflow(catalog=catalog)
    async def pinger(ctx: WorkflowContext, target: str) -> str:
        return await send_event("ping", "pinger", {"from": ctx.instance_id}, instance_id=target)

    app = await make_app()
    listener_id = await listener.start()
    pinger_id = await pinger.start(target=listener_id)
    event_id = await app.wait_result(pinger_id, timeout=10)
    assert event_id == f"{pinger_id}:0"
    assert await app.wait_result(listener_id, timeout=10) == pinger_id
    assert [e.kind for e in await app.get_history(pinger_id)] == [StepKind.SEND]


async def test_bad_input_is_rejected_and_nothing_is_stored(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def idle(ctx: WorkflowContext) -> None:
        await wait_event(ctx, "x")

    app = await make_app()
    with pytest.raises(InstanceNotFoundError):
        await app.send_event("x", "test", {}, instance_id="no-such-instance")
    with pytest.raises(ValueError, match="event_type"):
        await app.send_event("", "test", {})
    with pytest.raises(ValueError, match="extension"):
        await app.send_event("x", "test", {}, extensions={"Bad-Name": "v"})
    with pytest.raises(TypeError):
        await app.send_event("x", "test", {"bad": object()})
    iid = await idle.start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    with pytest.raises(TypeError):
        await app.send_event("x", "test", {"bad": object()}, instance_id=iid)
    assert (await app.get_instance(iid)).status is InstanceStatus.WAITING
    await app.send_event("x", "test", None, instance_id=iid)
    assert await app.wait_result(iid, timeout=10) is None


async def test_by_type_fan_out_reads_receivers_in_batches(
    make_app, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More waiting instances than one scan batch: every one of them gets the event."""
    monkeypatch.setattr("durable_core.storage.delivery.SCAN_BATCH", 2)

    @workflow(catalog=catalog)
    async def fan(ctx: WorkflowContext, n: int) -> int:
        return int((await wait_event(ctx, "all")).data) + n

    app = await make_app()
    ids = [await fan.start(n=n) for n in range(7)]
    for iid in ids:
        await wait_status(app, iid, InstanceStatus.WAITING)
    await app.send_event("all", "t", 100)
    assert [await app.wait_result(i, timeout=10) for i in ids] == [100 + n for n in range(7)]


async def test_a_local_send_hands_the_event_to_the_parked_run(make_app, catalog: Catalog) -> None:
    """In-process: the send records the wait's end itself; nothing stays in the mailbox; replay agrees."""

    @workflow(catalog=catalog)
    async def parked(ctx: WorkflowContext) -> str:
        return str((await wait_event(ctx, "go")).data)

    app = await make_app()
    iid = await parked.start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    assert app._dispatcher.parked_here(iid) is not None  # this process parked it and remembers how
    await app.send_event("go", "t", "handed", instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == "handed"
    history = await app.get_history(iid)
    assert [e.kind for e in history] == [StepKind.WAIT]
    async with app.storage._conns.read() as conn:
        left = (await conn.execute(select(func.count()).select_from(MESSAGES))).scalar()
    assert left == 0
    reports = await app.replay_check(limit=5)
    assert all(r.ok for r in reports), reports


async def test_an_instance_parked_by_another_app_gets_the_event_through_its_mailbox(
    make_app, catalog: Catalog
) -> None:
    @workflow(catalog=catalog)
    async def parked(ctx: WorkflowContext) -> str:
        return str((await wait_event(ctx, "go")).data)

    worker = await make_app()
    iid = await parked.start()
    await wait_status(worker, iid, InstanceStatus.WAITING)
    sender = await make_app()  # a second app (worker) on the same database, which did not park it
    await sender.send_event("go", "t", "via mailbox", instance_id=iid)
    assert await worker.wait_result(iid, timeout=10) == "via mailbox"
