"""An interruption (the workflow deadline) never loses the record of an activity whose body has ended.

Once an activity's body has returned, its side effects have happened: its result is recorded even if the
deadline cancels the run while the record is being written, and the timeout's unwind runs its
compensation. A body still running at the deadline is interrupted: no record, no compensation.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable_core import (
    Catalog,
    FakeClock,
    HistoryEntry,
    StepKind,
    StepOutcome,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowTimeoutError,
    activity,
    compensation,
    on_failure,
    workflow,
)


class DeadlineClock(FakeClock):
    """A fake clock that says when the deadline watchdog's sleep (``timeout`` seconds) has ended.

    The watchdog cancels the run in the same step as its sleep returns, so by the time a waiter on
    :attr:`fired` runs, the run has been interrupted.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        self.fired = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if seconds == self._timeout:
            self.fired.set()


async def test_a_result_being_recorded_at_the_deadline_is_kept_and_compensated(
    make_app, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = DeadlineClock(30)
    writing = asyncio.Event()
    proceed = asyncio.Event()
    body_tasks: list[asyncio.Task[Any]] = []
    refunded: list[tuple[str, dict[str, str]]] = []

    @compensation
    async def refund(ctx: WorkflowContext, order: str, result: dict[str, str]) -> None:
        refunded.append((order, result))

    @activity
    @on_failure(refund)
    async def charge(ctx: WorkflowContext, order: str) -> dict[str, str]:
        task = asyncio.current_task()
        assert task is not None
        body_tasks.append(task)  # the workflow body's task: the one the deadline cancels
        return {"charge": f"ch-{order}"}

    @workflow(catalog=catalog, timeout=30)
    async def bounded(ctx: WorkflowContext, order: str) -> None:
        await charge(ctx, order)

    app = await make_app(clock=clock, lease_ttl=3600.0)  # advancing the fake clock must not expire the lease
    original = app.storage.record_step

    async def gated(lease: Any, entry: HistoryEntry, **kwargs: Any) -> Any:
        if entry.kind is StepKind.ACTIVITY and entry.name == charge.name:
            writing.set()  # the body has returned; its result is being written now
            await proceed.wait()
        return await original(lease, entry, **kwargs)

    monkeypatch.setattr(app.storage, "record_step", gated)
    iid = await bounded.start(order="o-1")
    await asyncio.wait_for(writing.wait(), 10)
    await clock.wait_for_sleepers(1)  # the deadline watchdog
    clock.advance(31)
    await asyncio.wait_for(clock.fired.wait(), 10)  # the deadline has interrupted the run mid-write
    assert body_tasks[0].cancelling()
    proceed.set()
    with pytest.raises(WorkflowFailedError) as info:
        await app.handle(iid).result(timeout=10)
    assert isinstance(info.value.__cause__, WorkflowTimeoutError)
    history = await app.handle(iid).history()
    charged = [e for e in history if e.kind is StepKind.ACTIVITY]
    assert [(e.name, e.outcome) for e in charged] == [(charge.name, StepOutcome.OK)]
    assert charged[0].result.json_value == {"charge": "ch-o-1"}
    assert refunded == [("o-1", {"charge": "ch-o-1"})]
    assert [e.name for e in history if e.kind is StepKind.COMPENSATION] == [refund.name]


async def test_a_body_still_running_at_the_deadline_has_no_record_and_no_compensation(
    make_app, catalog: Catalog
) -> None:
    clock = FakeClock()
    reached = asyncio.Event()
    refunded: list[str] = []

    @compensation
    async def refund(ctx: WorkflowContext, order: str) -> None:
        refunded.append(order)

    @activity
    @on_failure(refund)
    async def charge(ctx: WorkflowContext, order: str) -> None:
        reached.set()
        await asyncio.Event().wait()  # still running when the deadline passes

    @workflow(catalog=catalog, timeout=30)
    async def bounded(ctx: WorkflowContext, order: str) -> None:
        await charge(ctx, order)

    app = await make_app(clock=clock, lease_ttl=3600.0)
    iid = await bounded.start(order="o-2")
    await asyncio.wait_for(reached.wait(), 10)
    await clock.wait_for_sleepers(1)
    clock.advance(31)
    with pytest.raises(WorkflowFailedError) as info:
        await app.handle(iid).result(timeout=10)
    assert isinstance(info.value.__cause__, WorkflowTimeoutError)
    history = await app.handle(iid).history()
    assert [e for e in history if e.kind in (StepKind.ACTIVITY, StepKind.COMPENSATION)] == []
    assert refunded == []


async def test_a_branch_recorded_before_the_deadline_is_compensated_while_an_earlier_one_runs(
    make_app, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``book`` (later branch) is recorded and waits for ``hold`` (earlier, still running) to end."""
    clock = FakeClock()
    holding = asyncio.Event()
    booked = asyncio.Event()
    undone: list[str] = []

    @compensation
    async def unbook(ctx: WorkflowContext, seat: str) -> None:
        undone.append(seat)

    @activity
    async def hold(ctx: WorkflowContext) -> None:
        holding.set()
        await asyncio.Event().wait()

    @activity
    @on_failure(unbook)
    async def book(ctx: WorkflowContext, seat: str) -> str:
        await asyncio.wait_for(holding.wait(), 10)  # ``hold`` claimed the earlier position
        return seat

    async def first(ctx: WorkflowContext) -> None:
        await hold(ctx)

    async def second(ctx: WorkflowContext) -> str:
        return await book(ctx, "12A")

    @workflow(catalog=catalog, timeout=30)
    async def bounded(ctx: WorkflowContext) -> None:
        await ctx.parallel(first(ctx), second(ctx))  # branches take positions as their activities start

    app = await make_app(clock=clock, lease_ttl=3600.0)
    original = app.storage.record_step

    async def spied(lease: Any, entry: HistoryEntry, **kwargs: Any) -> Any:
        outcome = await original(lease, entry, **kwargs)
        if entry.name == book.name:
            booked.set()
        return outcome

    monkeypatch.setattr(app.storage, "record_step", spied)
    iid = await bounded.start()
    await asyncio.wait_for(booked.wait(), 10)
    await clock.wait_for_sleepers(1)
    clock.advance(31)
    with pytest.raises(WorkflowFailedError) as info:
        await app.handle(iid).result(timeout=10)
    assert isinstance(info.value.__cause__, WorkflowTimeoutError)
    history = await app.handle(iid).history()
    assert [e.name for e in history if e.kind is StepKind.ACTIVITY] == [book.name]
    assert undone == ["12A"]


@pytest.mark.parametrize("timeout", [None, 3600.0], ids=["no-deadline", "deadline"])
async def test_a_run_stopped_while_recording_keeps_the_record_and_does_not_run_the_step_again(
    make_app, catalog: Catalog, monkeypatch: pytest.MonkeyPatch, timeout: float | None
) -> None:
    """A shutdown cancels the run's task: the result being written is kept, the next run replays it."""
    writing = asyncio.Event()
    proceed = asyncio.Event()
    charged: list[str] = []

    @activity
    async def charge(ctx: WorkflowContext, order: str) -> str:
        charged.append(order)
        return f"ch-{order}"

    @activity
    async def ship(ctx: WorkflowContext, receipt: str) -> str:
        return f"shipped {receipt}"

    @workflow(catalog=catalog, timeout=timeout)
    async def order_flow(ctx: WorkflowContext, order: str) -> str:
        return await ship(ctx, await charge(ctx, order))

    app = await make_app()
    original = app.storage.record_step

    async def gated(lease: Any, entry: HistoryEntry, **kwargs: Any) -> Any:
        if entry.name == charge.name and not writing.is_set():
            writing.set()
            await proceed.wait()
        return await original(lease, entry, **kwargs)

    monkeypatch.setattr(app.storage, "record_step", gated)
    iid = await order_flow.start(order="o-3")
    await asyncio.wait_for(writing.wait(), 10)
    (run,) = [t for t in asyncio.all_tasks() if t.get_name() == f"edda-run-{iid}"]
    run.cancel()  # what a shutdown does to a run that did not finish within shutdown_timeout
    proceed.set()
    await asyncio.wait({run}, timeout=10)
    assert run.cancelled()
    assert await app.handle(iid).result(timeout=10) == "shipped ch-o-3"  # the lease was released: it resumed
    assert charged == ["o-3"]  # recorded once, replayed after the stop, never run again
