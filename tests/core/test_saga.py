"""Saga compensations: reverse order, full arguments and result, on failure and on cancel."""

from __future__ import annotations

import asyncio
import contextlib

from durable_core import (
    Catalog,
    InstanceStatus,
    RetryPolicy,
    StepKind,
    WorkflowCancelledError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    compensation,
    on_failure,
    register_compensation,
    workflow,
)

NO_RETRY = RetryPolicy(max_attempts=1)


async def test_seed_saga_example_compensates_in_reverse_order(make_app, catalog: Catalog) -> None:
    log: list[str] = []

    @compensation
    async def cancel_reservation(
        ctx: WorkflowContext, item_id: str, result: dict[str, bool]
    ) -> dict[str, bool]:
        log.append(f"cancel {item_id} (was {result})")
        return {"cancelled": True}

    @activity
    @on_failure(cancel_reservation)
    async def reserve_inventory(ctx: WorkflowContext, item_id: str) -> dict[str, bool]:
        log.append(f"reserve {item_id}")
        return {"reserved": True}

    @activity(retry_policy=NO_RETRY)
    async def charge_payment(ctx: WorkflowContext) -> None:
        raise RuntimeError("card declined")

    @workflow(catalog=catalog)
    async def order_workflow(ctx: WorkflowContext, item1: str, item2: str) -> None:
        await reserve_inventory(ctx, item1)
        await reserve_inventory(ctx, item2)
        await charge_payment(ctx)

    app = await make_app()
    iid = await order_workflow.start(item1="A", item2="B")
    try:
        await app.handle(iid).result(timeout=10)
    except WorkflowFailedError as exc:
        assert "card declined" in str(exc)
    else:
        raise AssertionError("expected failure")
    assert log == [
        "reserve A",
        "reserve B",
        "cancel B (was {'reserved': True})",
        "cancel A (was {'reserved': True})",
    ]
    history = await app.get_history(iid)
    assert [e.kind for e in history][-2:] == [StepKind.COMPENSATION, StepKind.COMPENSATION]
    assert (await app.get_instance(iid)).status is InstanceStatus.FAILED


async def test_cancel_runs_compensations_and_records_who(make_app, catalog: Catalog) -> None:
    log: list[str] = []
    reached = asyncio.Event()
    release = asyncio.Event()

    @activity
    async def book(ctx: WorkflowContext, what: str) -> str:
        log.append(f"book {what}")
        return what

    async def unbook(ctx: WorkflowContext, what: str) -> None:
        log.append(f"unbook {what}")

    @activity
    async def wait_here(ctx: WorkflowContext) -> None:
        reached.set()
        await release.wait()

    @workflow(catalog=catalog)
    async def trip(ctx: WorkflowContext) -> str:
        await book(ctx, "flight")
        register_compensation(ctx, unbook, "flight")
        await wait_here(ctx)
        await book(ctx, "hotel")  # never runs: cancelled before
        return "booked"

    app = await make_app()
    iid = await trip.start()
    await asyncio.wait_for(reached.wait(), 10)
    await app.handle(iid).cancel(reason="user changed plans", cancelled_by="alice")
    release.set()
    try:
        await app.handle(iid).result(timeout=10)
    except WorkflowCancelledError as exc:
        assert "alice" in str(exc) and "user changed plans" in str(exc)
    else:
        raise AssertionError("expected cancellation")
    assert log == ["book flight", "unbook flight"]
    record = await app.get_instance(iid)
    assert record.status is InstanceStatus.CANCELLED and record.cancelled_by == "alice"


async def test_failing_compensation_is_retried_and_journaled(make_app, catalog: Catalog) -> None:
    attempts: list[int] = []

    @compensation(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0, max_interval=0))
    async def undo(ctx: WorkflowContext, x: int) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt < 2:
            raise ConnectionError("flaky undo")

    @activity
    @on_failure(undo)
    async def do(ctx: WorkflowContext, x: int) -> int:
        return x

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext) -> None:
        await do(ctx, 1)
        raise ValueError("fail after do")

    app = await make_app()
    iid = await wf.start()
    with contextlib.suppress(WorkflowFailedError):
        await app.handle(iid).result(timeout=10)
    assert attempts == [1, 2]
    comp = (await app.get_history(iid))[-1]
    assert comp.kind is StepKind.COMPENSATION and comp.retry is not None and comp.retry.total_attempts == 2
