"""Steps that wait durably (marked @workflow_step) and parallel branches (map fork + join)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pydantic_graph import GraphBuilder, StepContext, reduce_list_append

from durable_core import (
    Catalog,
    EddaApp,
    EventTimeoutError,
    FakeClock,
    InstanceStatus,
    StepKind,
    WorkflowContext,
    sleep,
    wait_event,
    workflow,
)
from durable_pydantic_graph import DurableGraph, workflow_context, workflow_step
from tests.integrations.pydantic_graph.support import wait_status


@dataclass
class Reminders:
    sent: list[str] = field(default_factory=list)


remind = GraphBuilder(
    name="reminders", state_type=Reminders, deps_type=Counter[str], input_type=str, output_type=int
)


@remind.step
async def first_reminder(ctx: StepContext[Reminders, Counter[str], str]) -> str:
    ctx.deps["first"] += 1
    ctx.state.sent.append(f"first to {ctx.inputs}")
    user: str = ctx.inputs
    return user


@remind.step
@workflow_step
async def wait_a_day(ctx: StepContext[Reminders, Counter[str], str]) -> str:
    ctx.deps["wait"] += 1
    await sleep(workflow_context(), 24 * 3600, name="reminder-delay")
    user: str = ctx.inputs
    return user


@remind.step
async def second_reminder(ctx: StepContext[Reminders, Counter[str], str]) -> int:
    ctx.deps["second"] += 1
    ctx.state.sent.append(f"second to {ctx.inputs}")
    return len(ctx.state.sent)


remind.add(
    remind.edge_from(remind.start_node).to(first_reminder),
    remind.edge_from(first_reminder).to(wait_a_day),
    remind.edge_from(wait_a_day).to(second_reminder),
    remind.edge_from(second_reminder).to(remind.end_node),
)
REMINDERS: DurableGraph[int] = DurableGraph(remind.build())


async def test_a_workflow_step_waits_durably_without_re_running_earlier_steps(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    counts: Counter[str] = Counter()
    finals: list[Reminders] = []

    @workflow(catalog=catalog)
    async def remind_user(ctx: WorkflowContext, user: str) -> int:
        state = Reminders()
        sent = await REMINDERS.run(ctx, state=state, deps=counts, inputs=user)
        finals.append(state)
        return sent

    app: EddaApp = await make_app()
    iid = await remind_user.start(user="ada")
    await wait_status(app, iid, InstanceStatus.WAITING)
    record = await app.get_instance(iid)
    assert record.wake_at is not None and record.wake_at == clock.now() + timedelta(days=1)
    assert counts == Counter(first=1, wait=1)

    clock.advance(24 * 3600 + 1)
    assert await app.wait_result(iid, timeout=10) == 2
    # The first reminder ran once; the waiting step re-ran in the replay (it is workflow code).
    assert counts == Counter(first=1, wait=2, second=1)
    assert finals == [Reminders(sent=["first to ada", "second to ada"])]
    history = await app.get_history(iid)
    assert [(e.kind, e.name) for e in history if e.kind in (StepKind.ACTIVITY, StepKind.TIMER)] == [
        (StepKind.ACTIVITY, "reminders.first_reminder"),
        (StepKind.TIMER, "reminder-delay"),
        (StepKind.ACTIVITY, "reminders.second_reminder"),
    ]
    assert "wait_a_day" not in REMINDERS.activity_names


# -- parallel branches -------------------------------------------------------------------------------
@dataclass
class Totals:
    squares: dict[str, int] = field(default_factory=dict)


fan = GraphBuilder(
    name="fan", state_type=Totals, deps_type=Counter[str], input_type=list[int], output_type=list[int]
)


@fan.step
async def square(ctx: StepContext[Totals, Counter[str], int]) -> int:
    ctx.deps[f"square {ctx.inputs}"] += 1
    ctx.state.squares[str(ctx.inputs)] = ctx.inputs * ctx.inputs
    number: int = ctx.inputs
    return number * number


collect = fan.join(reduce_list_append, initial_factory=list[int])


@fan.step
async def total(ctx: StepContext[Totals, Counter[str], list[int]]) -> list[int]:
    ctx.deps["total"] += 1
    return sorted(ctx.inputs)


fan.add(
    fan.edge_from(fan.start_node).map().to(square),
    fan.edge_from(square).to(collect),
    fan.edge_from(collect).to(total),
    fan.edge_from(total).to(fan.end_node),
)
FAN: DurableGraph[list[int]] = DurableGraph(fan.build())


async def test_map_fork_and_join_replay_deterministically(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    counts: Counter[str] = Counter()
    states: list[Totals] = []

    @workflow(catalog=catalog)
    async def squares(ctx: WorkflowContext, numbers: list[int]) -> list[int]:
        state = Totals()
        result = await FAN.run(ctx, state=state, deps=counts, inputs=numbers)
        await sleep(ctx, 10)
        states.append(state)
        return result

    app: EddaApp = await make_app()
    iid = await squares.start(numbers=[3, 1, 2])
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(11)
    assert await app.wait_result(iid, timeout=10) == [1, 4, 9]
    assert counts == Counter({"square 3": 1, "square 1": 1, "square 2": 1, "total": 1})
    # Every branch's state change survives (each step runs on the state left by the previous one).
    assert states == [Totals(squares={"3": 9, "1": 1, "2": 4})]
    names = [e.name for e in await app.get_history(iid) if e.kind is StepKind.ACTIVITY]
    assert names == ["fan.square"] * 3 + ["fan.total"]


# -- waiting for an event ----------------------------------------------------------------------------
class Paid(BaseModel):
    amount: float
    reference: str


@dataclass
class Checkout:
    reserved: bool = False
    payment: Paid | None = None


pay = GraphBuilder(
    name="checkout", state_type=Checkout, deps_type=Counter[str], input_type=float, output_type=str
)


@pay.step
async def reserve(ctx: StepContext[Checkout, Counter[str], float]) -> float:
    ctx.deps["reserve"] += 1
    ctx.state.reserved = True
    amount: float = ctx.inputs
    return amount


@pay.step
@workflow_step
async def await_payment(ctx: StepContext[Checkout, Counter[str], float]) -> Paid | None:
    try:
        event = await wait_event(workflow_context(), "payment.received", timeout_seconds=3600, model=Paid)
    except EventTimeoutError:
        return None
    paid: Paid = event.data
    return paid


@pay.step
async def finish(ctx: StepContext[Checkout, Counter[str], Paid | None]) -> str:
    ctx.deps["finish"] += 1
    ctx.state.payment = ctx.inputs
    if ctx.inputs is None:
        return "cancelled: no payment within an hour"
    return f"shipped after payment {ctx.inputs.reference}"


pay.add(
    pay.edge_from(pay.start_node).to(reserve),
    pay.edge_from(reserve).to(await_payment),
    pay.edge_from(await_payment).to(finish),
    pay.edge_from(finish).to(pay.end_node),
)
CHECKOUT: DurableGraph[str] = DurableGraph(pay.build())


def _checkout_workflow(catalog: Catalog, counts: Counter[str], finals: list[Checkout]) -> Any:
    @workflow(catalog=catalog)
    async def checkout(ctx: WorkflowContext, amount: float) -> str:
        state = Checkout()
        result: str = await CHECKOUT.run(ctx, state=state, deps=counts, inputs=amount)
        finals.append(state)
        return result

    return checkout


async def test_a_workflow_step_waits_for_an_event_sent_from_outside(make_app: Any, catalog: Catalog) -> None:
    counts: Counter[str] = Counter()
    finals: list[Checkout] = []
    checkout = _checkout_workflow(catalog, counts, finals)
    app: EddaApp = await make_app()
    iid = await checkout.start(amount=25.0)
    await wait_status(app, iid, InstanceStatus.WAITING)
    wait = await app.get_wait(iid)
    assert wait is not None and wait.event_types == ("payment.received",)
    await app.send_event("payment.received", "psp", {"amount": 25.0, "reference": "PAY-9"}, instance_id=iid)
    assert await app.wait_result(iid, timeout=10) == "shipped after payment PAY-9"
    assert counts == Counter(reserve=1, finish=1)
    assert finals == [Checkout(reserved=True, payment=Paid(amount=25.0, reference="PAY-9"))]


async def test_an_event_wait_can_time_out(make_app: Any, catalog: Catalog, clock: FakeClock) -> None:
    counts: Counter[str] = Counter()
    finals: list[Checkout] = []
    checkout = _checkout_workflow(catalog, counts, finals)
    app: EddaApp = await make_app()
    iid = await checkout.start(amount=9.0)
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(3601)
    assert await app.wait_result(iid, timeout=10) == "cancelled: no payment within an hour"
    assert counts == Counter(reserve=1, finish=1)
    assert finals == [Checkout(reserved=True, payment=None)]
