"""The compact tool style: one start tool per durable tool plus shared runs_* tools.

Run it: python examples/mcp_compact.py (an in-memory MCP client; nothing is served).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from mcp import Client

from durable_core import WorkflowContext, activity
from edda_mcp import EddaMCPServer


@activity
async def pack(ctx: WorkflowContext, order_id: str) -> str:
    return f"parcel-{order_id}"


async def ship_order(ctx: WorkflowContext, order_id: str) -> str:
    """Pack and ship an order."""
    return await pack(ctx, order_id)


async def refund_order(ctx: WorkflowContext, order_id: str, amount: float) -> str:
    """Refund an order."""
    return f"refunded {amount:.2f} for {order_id}"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EddaMCPServer("Shop", db_url=f"sqlite:///{Path(tmp) / 'shop.db'}", tool_style="compact")
        server.durable_tool(ship_order)
        server.durable_tool(refund_order)
        async with Client(server.mcp) as client:
            print(f"tools: {sorted(tool.name for tool in (await client.list_tools()).tools)}")
            shipped = (await client.call_tool("ship_order", {"order_id": "A1"})).structured_content or {}
            await client.call_tool("refund_order", {"order_id": "B2", "amount": 5})
            result = await client.call_tool("runs_result", {"instance_id": shipped["instance_id"]})
            print(f"runs_result -> {(result.structured_content or {})['result']}")
            listed = await client.call_tool("runs_list", {"tool": "refund_order", "status": ["completed"]})
            runs = (listed.structured_content or {})["runs"]
            print(f"runs_list(tool=refund_order) -> {[(run['tool'], run['status']) for run in runs]}")


if __name__ == "__main__":
    asyncio.run(main())
