"""A pydantic-graph order flow run durably: each step is an activity, the state survives a restart.

The graph ``check_stock -> hold_for_fraud_review -> charge -> ship`` keeps nested dataclasses and a
Pydantic model in its state. ``hold_for_fraud_review`` is a ``@workflow_step``: it runs in the workflow
body and waits an hour with a durable timer (the fake clock skips it). The first app stops while
``ship`` is in flight; a second app replays the graph from the database: the recorded steps do not run
again, and ``ship`` sees the state the earlier steps left, rebuilt as real objects.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel
from pydantic_graph import GraphBuilder, StepContext

from durable_core import EddaApp, FakeClock, InstanceStatus, WorkflowContext, sleep, workflow
from durable_pydantic_graph import DurableGraph, workflow_context, workflow_step

RUNS: Counter[str] = Counter()  # how often each step body really ran in this process
SHIP_REACHED = asyncio.Event()
FIRST_APP_STOPPED = asyncio.Event()


class Line(BaseModel):
    sku: str
    qty: int
    price: float


@dataclass
class Payment:
    charge_id: str
    amount: float


@dataclass
class OrderState:
    lines: list[Line] = field(default_factory=list)
    payment: Payment | None = None
    events: list[str] = field(default_factory=list)


g = GraphBuilder(name="order_flow", state_type=OrderState, input_type=list[Line], output_type=str)


@g.step
async def check_stock(ctx: StepContext[OrderState, None, list[Line]]) -> float:
    RUNS["check_stock"] += 1
    ctx.state.lines = list(ctx.inputs)
    ctx.state.events.append("stock checked")
    return sum(line.qty * line.price for line in ctx.inputs)


@g.step
@workflow_step  # runs in the workflow body, so it may wait durably
async def hold_for_fraud_review(ctx: StepContext[OrderState, None, float]) -> float:
    await sleep(workflow_context(), 3600, name="fraud-review")
    amount: float = ctx.inputs
    return amount


@g.step
async def charge(ctx: StepContext[OrderState, None, float]) -> Payment:
    RUNS["charge"] += 1
    ctx.state.payment = Payment(charge_id="ch_1", amount=ctx.inputs)
    ctx.state.events.append(f"charged {ctx.inputs:.2f}")
    return ctx.state.payment


@g.step
async def ship(ctx: StepContext[OrderState, None, Payment]) -> str:
    RUNS["ship"] += 1
    if not FIRST_APP_STOPPED.is_set():  # the first app stops while this step is in flight
        SHIP_REACHED.set()
        await asyncio.Event().wait()
    skus = ", ".join(f"{line.qty}x {line.sku}" for line in ctx.state.lines)
    return f"shipped {skus} (paid by {ctx.inputs.charge_id})"


g.add(
    g.edge_from(g.start_node).to(check_stock),
    g.edge_from(check_stock).to(hold_for_fraud_review),
    g.edge_from(hold_for_fraud_review).to(charge),
    g.edge_from(charge).to(ship),
    g.edge_from(ship).to(g.end_node),
)
ORDER_FLOW: DurableGraph[str] = DurableGraph(g.build())


@workflow
async def place_order(ctx: WorkflowContext, lines: list[Line]) -> str:
    state = OrderState()
    result = await ORDER_FLOW.run(ctx, state=state, inputs=lines)
    print("state after the graph:", state.payment, state.events)
    return result


async def wait_until_parked(app: EddaApp, instance_id: str) -> None:
    """Poll (bounded) until the instance waits on its timer."""
    for _ in range(1000):
        if (await app.get_instance(instance_id)).status is InstanceStatus.WAITING:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the instance never parked")


async def main() -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'orders.db'}"
        first = EddaApp(db_url, clock=clock, shutdown_timeout=0)
        await first.initialize()
        lines = [Line(sku="book", qty=2, price=12.5), Line(sku="mug", qty=1, price=8.0)]
        instance_id = await place_order.start(lines=lines)
        await wait_until_parked(first, instance_id)
        print("waiting for the fraud review timer; advancing the clock by an hour")
        clock.advance(3601)
        await SHIP_REACHED.wait()
        print("first app stops while ship is running")
        await first.shutdown()
        FIRST_APP_STOPPED.set()

        async with EddaApp(db_url, clock=clock) as second:
            print("second app resumes the instance")
            print("result:", await second.handle(instance_id).result(timeout=10))
            for entry in await second.get_history(instance_id):
                print(f"  position {entry.position}: {entry.kind.value:<8} {entry.name}")

    print("step runs:", dict(RUNS))
    assert RUNS["check_stock"] == 1 and RUNS["charge"] == 1, "recorded steps must not re-run"
    assert RUNS["ship"] == 2, "the interrupted step runs again"
    print("OK: the graph resumed after its last recorded step")


if __name__ == "__main__":
    asyncio.run(main())
