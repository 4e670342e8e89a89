"""DurableGraph: each step is an activity, state and outputs are rebuilt as real objects on replay."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_graph import GraphBuilder, StepContext

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
from durable_pydantic_graph import DurableGraph
from tests.integrations.pydantic_graph.graphs import (
    COUNTER_GRAPH,
    ORDER,
    ORDER_GRAPH,
    Address,
    CounterState,
    Increment,
    Line,
    Order,
    OrderState,
    Receipt,
    Shipment,
)
from tests.integrations.pydantic_graph.support import wait_status

STEP_NAMES = ["orders.validate", "orders.price", "orders.ship", "orders.confirm"]


class ActivityIds:
    """Hooks that collect ``(activity_id, cache_hit)`` of every activity completion."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        self.seen.append((activity_id, cache_hit))


def _order_workflow(catalog: Catalog, counts: Counter[str], observed: list[OrderState]) -> Any:
    @workflow(catalog=catalog)
    async def process_order(ctx: WorkflowContext, order: Order) -> Receipt:
        state = OrderState()
        receipt = await ORDER_GRAPH.run(ctx, state=state, deps=counts, inputs=order)
        observed.append(state)
        await sleep(ctx, 60)  # park; the resume replays the whole graph from history
        observed.append(state)
        return receipt

    return process_order


def _assert_rebuilt(state: OrderState) -> None:
    """The state holds real nested objects (not dicts) with the values the steps set."""
    assert isinstance(state.order, Order) and state.order.lines[1].sku == "pen"
    assert state.total == 110.0
    assert isinstance(state.shipment, Shipment) and isinstance(state.shipment.address, Address)
    assert state.shipment.address.city == "Oslo"
    assert state.shipment.booked_at == datetime(2030, 1, 2, 12, 0)
    assert state.notes == ["validated", "priced", "shipped", "confirmed"]


async def test_each_step_is_one_activity_and_replay_rebuilds_state(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    counts: Counter[str] = Counter()
    observed: list[OrderState] = []
    wf = _order_workflow(catalog, counts, observed)
    hooks = ActivityIds()
    app: EddaApp = await make_app(hooks=hooks)

    iid = await wf.start(order=ORDER)
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(61)
    receipt = await app.wait_result(iid, timeout=10)

    assert receipt == Receipt(order_id="ORD-1", total=110.0, carrier="express")
    assert counts == Counter(validate=1, price=1, ship=1, confirm=1)  # the replay ran nothing again
    assert len(observed) == 3  # first run (then parked), and twice in the replaying run
    for state in observed:
        _assert_rebuilt(state)
    history = await app.get_history(iid)
    activities = [e.name for e in history if e.kind is StepKind.ACTIVITY]
    assert activities == STEP_NAMES
    live = [aid for aid, hit in hooks.seen if not hit]
    replayed = [aid for aid, hit in hooks.seen if hit]
    assert live == [f"{name}#1" for name in STEP_NAMES]
    assert replayed == live


async def test_base_node_graph_records_each_node_run_with_a_sequence(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    counts: Counter[str] = Counter()
    states: list[CounterState] = []

    @workflow(catalog=catalog)
    async def count_up(ctx: WorkflowContext, start: int) -> str:
        state = CounterState(value=start)
        result = await COUNTER_GRAPH.run(ctx, state=state, deps=counts, inputs=Increment(by=1))
        await sleep(ctx, 5)
        states.append(state)
        return result

    hooks = ActivityIds()
    app: EddaApp = await make_app(hooks=hooks)
    iid = await count_up.start(start=0)
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(6)
    assert await app.wait_result(iid, timeout=10) == "reached 5"
    # 0 -> +1 = 1 -> +2 = 3 -> +2 = 5: three increments, three checks, each run once.
    assert counts == Counter(Increment=3, Check=3)
    assert states == [CounterState(value=5, seen=[1, 3, 5])]
    live = [aid for aid, hit in hooks.seen if not hit]
    assert live == [
        "counter.Increment#1",
        "counter.Check#1",
        "counter.Increment#2",
        "counter.Check#2",
        "counter.Increment#3",
        "counter.Check#3",
    ]
    assert [aid for aid, hit in hooks.seen if hit] == live


async def test_graph_output_is_the_typed_object(make_app: Any, catalog: Catalog) -> None:
    counts: Counter[str] = Counter()
    seen: list[object] = []

    @workflow(catalog=catalog)
    async def typed(ctx: WorkflowContext, order: Order) -> str:
        receipt = await ORDER_GRAPH.run(ctx, state=OrderState(), deps=counts, inputs=order)
        seen.append(receipt)
        return receipt.carrier

    await make_app()
    assert await typed.start_and_wait(order=ORDER) == "express"
    assert len(seen) == 1 and isinstance(seen[0], Receipt)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_state_survives_a_restart_of_the_app(make_app: Any, catalog: Catalog, clock: FakeClock) -> None:
    """A second app (a new process would do the same) resumes from the database alone."""
    counts: Counter[str] = Counter()
    observed: list[OrderState] = []
    wf = _order_workflow(catalog, counts, observed)
    first: EddaApp = await make_app()
    iid = await wf.start(order=ORDER)
    await wait_status(first, iid, InstanceStatus.WAITING)
    await first.shutdown()
    observed.clear()

    second: EddaApp = await make_app()
    clock.advance(61)
    assert (await second.wait_result(iid, timeout=10)).carrier == "express"
    assert counts == Counter(validate=1, price=1, ship=1, confirm=1)
    assert len(observed) == 2  # the second app replayed the graph: state rebuilt from history alone
    for state in observed:
        _assert_rebuilt(state)


async def test_changed_step_inputs_on_replay_block_the_instance(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    """A replay whose step gets other inputs than recorded is stopped, never fed another run's result."""
    counts: Counter[str] = Counter()
    deployed = {"order": ORDER}

    @workflow(catalog=catalog)
    async def drifting(ctx: WorkflowContext) -> str:
        receipt = await ORDER_GRAPH.run(ctx, state=OrderState(), deps=counts, inputs=deployed["order"])
        await sleep(ctx, 60)
        return receipt.carrier

    app: EddaApp = await make_app()
    iid = await drifting.start()
    await wait_status(app, iid, InstanceStatus.WAITING)
    deployed["order"] = Order(order_id="ORD-2", lines=[])  # "new code" computes another input
    clock.advance(61)
    await wait_status(app, iid, InstanceStatus.BLOCKED)
    record = await app.get_instance(iid)
    assert record.blocked_reason is not None and "orders.validate' with arguments" in record.blocked_reason
    assert counts == Counter(validate=1, price=1, ship=1, confirm=1)  # nothing ran with the wrong input


class Basket(BaseModel):
    """A Pydantic-model graph state (the other tests use dataclasses)."""

    items: list[Line] = []
    addresses: dict[str, Address] = {}
    checked_out: bool = False


def _basket_graph() -> DurableGraph[int]:
    builder = GraphBuilder(
        name="basket", state_type=Basket, deps_type=Counter[str], input_type=str, output_type=int
    )

    @builder.step
    async def add(ctx: StepContext[Basket, Counter[str], str]) -> str:
        ctx.deps["add"] += 1
        ctx.state.items.append(Line(sku=ctx.inputs, qty=1, unit_price=2.0))
        ctx.state.addresses["home"] = Address("Bergen", "5003")
        sku: str = ctx.inputs
        return sku

    @builder.step
    async def check_out(ctx: StepContext[Basket, Counter[str], str]) -> int:
        ctx.deps["check_out"] += 1
        assert isinstance(ctx.state.addresses["home"], Address)  # rebuilt, not a dict
        ctx.state.checked_out = True
        return len(ctx.state.items)

    builder.add(
        builder.edge_from(builder.start_node).to(add),
        builder.edge_from(add).to(check_out),
        builder.edge_from(check_out).to(builder.end_node),
    )
    return DurableGraph(builder.build())


async def test_a_pydantic_model_state_is_restored_in_place(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    counts: Counter[str] = Counter()
    graph = _basket_graph()
    finals: list[Basket] = []

    @workflow(catalog=catalog)
    async def shop(ctx: WorkflowContext, sku: str) -> int:
        basket = Basket()
        count = await graph.run(ctx, state=basket, deps=counts, inputs=sku)
        await sleep(ctx, 1)
        finals.append(basket)
        return count

    app: EddaApp = await make_app()
    iid = await shop.start(sku="tea")
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(2)
    assert await app.wait_result(iid, timeout=10) == 1
    assert counts == Counter(add=1, check_out=1)
    assert finals == [
        Basket(
            items=[Line(sku="tea", qty=1, unit_price=2.0)],
            addresses={"home": Address("Bergen", "5003")},
            checked_out=True,
        )
    ]
    assert finals[0].model_fields_set == {"items", "addresses", "checked_out"}


async def test_iter_steps_through_the_graph_and_replays_without_running_steps_again(
    make_app: Any, catalog: Catalog, clock: FakeClock
) -> None:
    counts: Counter[str] = Counter()
    walked: list[list[str]] = []

    @workflow(catalog=catalog)
    async def walk_order(ctx: WorkflowContext, order: Order) -> Receipt:
        nodes: list[str] = []
        async with ORDER_GRAPH.iter(ctx, state=OrderState(), deps=counts, inputs=order) as run:
            async for event in run:
                nodes.extend(type(task).__name__ for task in (event if isinstance(event, list) else [event]))
        walked.append(nodes)
        await sleep(ctx, 60)  # park; the resume replays the graph run through iter() again
        assert isinstance(run.output, Receipt)
        return run.output

    app: EddaApp = await make_app()
    iid = await walk_order.start(order=ORDER)
    await wait_status(app, iid, InstanceStatus.WAITING)
    clock.advance(61)
    receipt = await app.wait_result(iid, timeout=10)
    assert receipt == Receipt(order_id=ORDER.order_id, total=110.0, carrier="express")
    assert counts == Counter(validate=1, price=1, ship=1, confirm=1)  # the replay ran no step again
    assert len(walked) == 2 and walked[0] == walked[1] and walked[0]
