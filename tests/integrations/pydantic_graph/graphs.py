"""Graphs used by the durable_pydantic_graph tests: a 4-step order flow and a BaseNode loop.

Steps count their executions in ``deps`` (a :class:`collections.Counter`, never recorded), so tests
can prove which steps ran again after a replay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel
from pydantic_graph import BaseNode, End, GraphBuilder, GraphRunContext, StepContext

from durable_pydantic_graph import DurableGraph


class Line(BaseModel):
    sku: str
    qty: int
    unit_price: float


class Order(BaseModel):
    order_id: str
    lines: list[Line]


@dataclass
class Address:
    city: str
    zip_code: str


@dataclass
class Shipment:
    carrier: str
    address: Address
    booked_at: datetime


@dataclass
class OrderState:
    order: Order | None = None
    total: float = 0.0
    shipment: Shipment | None = None
    notes: list[str] = field(default_factory=list)


class Receipt(BaseModel):
    order_id: str
    total: float
    carrier: str


Deps = Counter[str]
builder = GraphBuilder(
    name="orders", state_type=OrderState, deps_type=Deps, input_type=Order, output_type=Receipt
)


@builder.step
async def validate(ctx: StepContext[OrderState, Deps, Order]) -> Order:
    ctx.deps["validate"] += 1
    ctx.state.order = ctx.inputs
    ctx.state.notes.append("validated")
    order: Order = ctx.inputs
    return order


@builder.step
async def price(ctx: StepContext[OrderState, Deps, Order]) -> float:
    ctx.deps["price"] += 1
    ctx.state.total = sum(line.qty * line.unit_price for line in ctx.inputs.lines)
    ctx.state.notes.append("priced")
    total: float = ctx.state.total
    return total


@builder.step
async def ship(ctx: StepContext[OrderState, Deps, float]) -> Shipment:
    ctx.deps["ship"] += 1
    carrier = "express" if ctx.inputs > 100 else "standard"
    shipment = Shipment(carrier, Address("Oslo", "0150"), datetime(2030, 1, 2, 12, 0))
    ctx.state.shipment = shipment
    ctx.state.notes.append("shipped")
    return shipment


@builder.step
async def confirm(ctx: StepContext[OrderState, Deps, Shipment]) -> Receipt:
    ctx.deps["confirm"] += 1
    assert ctx.state.order is not None
    ctx.state.notes.append("confirmed")
    return Receipt(order_id=ctx.state.order.order_id, total=ctx.state.total, carrier=ctx.inputs.carrier)


builder.add(
    builder.edge_from(builder.start_node).to(validate),
    builder.edge_from(validate).to(price),
    builder.edge_from(price).to(ship),
    builder.edge_from(ship).to(confirm),
    builder.edge_from(confirm).to(builder.end_node),
)
ORDER_GRAPH: DurableGraph[Receipt] = DurableGraph(builder.build())
ORDER = Order(
    order_id="ORD-1",
    lines=[Line(sku="book", qty=2, unit_price=30.0), Line(sku="pen", qty=5, unit_price=10.0)],
)


# -- a BaseNode loop: Increment -> Check -> Increment ... -> End ----------------------------------
@dataclass
class CounterState:
    value: int = 0
    seen: list[int] = field(default_factory=list)


@dataclass
class Increment(BaseNode[CounterState, Counter[str], str]):
    by: int

    async def run(self, ctx: GraphRunContext[CounterState, Counter[str]]) -> Check:
        ctx.deps["Increment"] += 1
        ctx.state.value += self.by
        return Check(limit=5)


@dataclass
class Check(BaseNode[CounterState, Counter[str], str]):
    limit: int

    async def run(self, ctx: GraphRunContext[CounterState, Counter[str]]) -> Increment | End[str]:
        ctx.deps["Check"] += 1
        ctx.state.seen.append(ctx.state.value)
        if ctx.state.value >= self.limit:
            return End(f"reached {ctx.state.value}")
        return Increment(by=2)


node_builder = GraphBuilder(
    name="counter", state_type=CounterState, deps_type=Counter[str], input_type=Increment, output_type=str
)
node_builder.add(
    node_builder.node(Increment),
    node_builder.node(Check),
    node_builder.edge_from(node_builder.start_node).to(Increment),
)
COUNTER_GRAPH: DurableGraph[str] = DurableGraph(node_builder.build())
