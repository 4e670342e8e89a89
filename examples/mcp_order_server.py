"""The seed's order-processing MCP server: one durable tool becomes four MCP tools.

Serve it to an MCP host over stdio (what Claude Desktop runs) or streamable HTTP:

    edda-mcp serve examples/mcp_order_server.py:server
    edda-mcp serve examples/mcp_order_server.py:server --transport http --port 8000

Run it directly (python examples/mcp_order_server.py) for a short in-process session with an MCP client.
Set ORDER_EFFECTS_LOG to a file to log each executed step (the crash demo counts them).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from mcp import Client
from pydantic import BaseModel

from durable_core import WorkflowContext, activity
from edda_mcp import EddaMCPServer

server = EddaMCPServer(
    "Order Service",
    db_url="sqlite:///orders.db",
    instructions="Start orders with process_order, follow them with process_order_status.",
    start_wait_seconds=0,
)


class OrderResult(BaseModel):
    order_id: str
    status: str
    payment: str
    tracking: str


def _effect(step: str) -> None:
    """Log a step that really ran (stderr for humans; ORDER_EFFECTS_LOG for the crash demo)."""
    print(f"[order service] running {step}", file=sys.stderr)
    log = os.environ.get("ORDER_EFFECTS_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{step}\n")


@activity
async def reserve_inventory(ctx: WorkflowContext, order_id: str) -> str:
    _effect("reserve_inventory")
    return f"RSV-{order_id}"


@activity
async def process_payment(ctx: WorkflowContext, order_id: str, amount: float) -> str:
    _effect("process_payment")
    return f"PAY-{order_id}-{amount:.2f}"


@activity
async def arrange_shipping(ctx: WorkflowContext, order_id: str) -> str:
    await asyncio.sleep(float(os.environ.get("ORDER_SHIPPING_SECONDS", "0")))  # a slow carrier API
    _effect("arrange_shipping")
    return f"TRACK-{order_id}"


@server.durable_tool(description="Process a customer order: reserve stock, take payment, ship")
async def process_order(ctx: WorkflowContext, order_id: str, amount: float = 99.99) -> OrderResult:
    await reserve_inventory(ctx, order_id)
    payment = await process_payment(ctx, order_id, amount)
    tracking = await arrange_shipping(ctx, order_id)
    return OrderResult(order_id=order_id, status="completed", payment=payment, tracking=tracking)


@server.tool(description="Process id and database of this server (diagnostics)")
def server_info() -> dict[str, str]:
    return {"pid": str(os.getpid()), "db_url": server.db_url}


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local = EddaMCPServer("Order Service", db_url=f"sqlite:///{Path(tmp) / 'orders.db'}")
        local.durable_tool(process_order, wait_seconds=10)
        async with Client(local.mcp) as client:
            tools = await client.list_tools()
            print("tools:", ", ".join(sorted(t.name for t in tools.tools)))
            started = await client.call_tool("process_order", {"order_id": "A-100", "amount": 25})
            data = started.structured_content or {}
            print(f"process_order -> {data['status']}: {data['result']}")
            status = await client.call_tool("process_order_status", {"instance_id": data["instance_id"]})
            print(f"status: {(status.structured_content or {})['steps_completed']} steps completed")


if __name__ == "__main__":
    asyncio.run(main())
