"""An MCP server whose durable tool is a pydantic-graph order flow.

Serve it to an MCP host over stdio or streamable HTTP:

    edda-mcp serve examples/pydantic_graph_mcp_server.py:server
    edda-mcp serve examples/pydantic_graph_mcp_server.py:server --transport http --port 8000

`place_order` runs the graph ``price -> reserve -> charge -> confirm``; each step is a recorded activity
(`order_flow.price`, ...), so `place_order_status` reports the steps done and a server that crashes
mid-order resumes after the last finished step with the graph state (nested models) rebuilt. Run this
file directly for a short in-process session with an MCP client.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mcp import Client
from pydantic import BaseModel
from pydantic_graph import GraphBuilder, StepContext

from durable_core import WorkflowContext
from durable_pydantic_graph import DurableGraph
from edda_mcp import EddaMCPServer

PRICES = {"book": 12.5, "mug": 8.0, "pen": 1.5}


class Item(BaseModel):
    sku: str
    qty: int


class Receipt(BaseModel):
    order_id: str
    total: float
    reservation: str
    charge: str
    steps: list[str]


@dataclass
class OrderState:
    order_id: str = ""
    items: list[Item] = field(default_factory=list)
    total: float = 0.0
    reservation: str = ""
    charge: str = ""
    log: list[str] = field(default_factory=list)


g = GraphBuilder(name="order_flow", state_type=OrderState, input_type=list[Item], output_type=Receipt)


@g.step
async def price(ctx: StepContext[OrderState, None, list[Item]]) -> float:
    ctx.state.items = list(ctx.inputs)
    ctx.state.total = sum(PRICES[item.sku] * item.qty for item in ctx.inputs)
    ctx.state.log.append("priced")
    return ctx.state.total


@g.step
async def reserve(ctx: StepContext[OrderState, None, float]) -> str:
    ctx.state.reservation = f"RSV-{ctx.state.order_id}"
    ctx.state.log.append("reserved")
    return ctx.state.reservation


@g.step
async def charge(ctx: StepContext[OrderState, None, str]) -> str:
    ctx.state.charge = f"PAY-{ctx.state.order_id}-{ctx.state.total:.2f}"
    ctx.state.log.append("charged")
    return ctx.state.charge


@g.step
async def confirm(ctx: StepContext[OrderState, None, str]) -> Receipt:
    ctx.state.log.append("confirmed")
    state = ctx.state
    return Receipt(
        order_id=state.order_id,
        total=state.total,
        reservation=state.reservation,
        charge=state.charge,
        steps=state.log,
    )


g.add(
    g.edge_from(g.start_node).to(price),
    g.edge_from(price).to(reserve),
    g.edge_from(reserve).to(charge),
    g.edge_from(charge).to(confirm),
    g.edge_from(confirm).to(g.end_node),
)
ORDER_FLOW: DurableGraph[Receipt] = DurableGraph(g.build())

server = EddaMCPServer(
    "Order Flow",
    db_url="sqlite:///orders.db",
    instructions="Place an order with `place_order`; follow it with place_order_status / place_order_result.",
    start_wait_seconds=0,
)


@server.durable_tool(
    description="Price, reserve, charge and confirm an order (a durable pydantic-graph flow)"
)
async def place_order(ctx: WorkflowContext, order_id: str, items: list[Item]) -> Receipt:
    return await ORDER_FLOW.run(ctx, state=OrderState(order_id=order_id), inputs=items)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local = EddaMCPServer("Order Flow", db_url=f"sqlite:///{Path(tmp) / 'orders.db'}")
        local.durable_tool(place_order, wait_seconds=10)
        async with Client(local.mcp) as client:
            tools = await client.list_tools()
            print("tools:", ", ".join(sorted(t.name for t in tools.tools)))
            items = [{"sku": "book", "qty": 2}, {"sku": "pen", "qty": 3}]
            started = await client.call_tool("place_order", {"order_id": "A-7", "items": items})
            data = started.structured_content or {}
            print(f"place_order -> {data['status']}")
            for key, value in data["result"].items():
                print(f"  {key}: {value}")
            status = await client.call_tool("place_order_status", {"instance_id": data["instance_id"]})
            print(f"status: {(status.structured_content or {})['steps_completed']} steps completed")


if __name__ == "__main__":
    asyncio.run(main())
