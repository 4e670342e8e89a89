"""An MCP server whose durable tool is a pydantic-ai agent that needs a human's approval to refund.

Serve it to an MCP host over stdio or streamable HTTP:

    edda-mcp serve examples/pydantic_ai_mcp_server.py:server
    edda-mcp serve examples/pydantic_ai_mcp_server.py:server --transport http --port 8000

`support_ticket` runs the agent inside a workflow: every model request and tool call is a recorded
activity. The `refund` tool requires approval, so the run parks in a durable wait (`approve_refund`)
whose schema lists the pending call; answer it with `support_ticket_respond` (or elicitation) and the
same agent run continues. The model here is a scripted `FunctionModel`, so the example runs offline;
swap in `"openai:gpt-5-mini"` or any pydantic-ai model. Run this file for a short in-process session.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from mcp import Client
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from durable_core import WorkflowContext
from durable_pydantic_ai import EddaDurability, approvals
from edda_mcp import EddaMCPServer


def support_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Scripted model: look the order up, ask for a refund, then summarise."""
    returned = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returned:
        return ModelResponse(parts=[ToolCallPart("lookup_order", {"order_id": "A-7"}, tool_call_id="look")])
    if len(returned) == 1:
        return ModelResponse(
            parts=[ToolCallPart("refund", {"order_id": "A-7", "amount": 12.5}, tool_call_id="pay")]
        )
    return ModelResponse(parts=[TextPart(f"Done: {returned[-1].content}")])


agent = Agent(
    FunctionModel(support_model),
    name="support",
    instructions="Help the customer; refunds need a human's approval.",
    capabilities=[EddaDurability(), approvals(name="approve_refund")],
)


@agent.tool_plain
def lookup_order(order_id: str) -> str:
    """Find an order."""
    return f"order {order_id}: 1 book, 12.50 EUR, damaged on arrival"


@agent.tool_plain(requires_approval=True)
def refund(order_id: str, amount: float) -> str:
    """Refund an order (a human approves it first)."""
    return f"refunded {amount:.2f} EUR for {order_id}"


server = EddaMCPServer(
    "Support",
    db_url="sqlite:///support.db",
    instructions="Open a ticket with `support_ticket`; approve refunds with `support_ticket_respond`.",
    start_wait_seconds=0,
)


@server.durable_tool(description="Handle a support ticket with a durable pydantic-ai agent", human_input=True)
async def support_ticket(ctx: WorkflowContext, message: str) -> str:
    result = await agent.run(message)
    return result.output


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local = EddaMCPServer("Support", db_url=f"sqlite:///{Path(tmp) / 'support.db'}")
        local.durable_tool(support_ticket, wait_seconds=0, human_input=True)
        async with Client(local.mcp) as client:
            started = await client.call_tool("support_ticket", {"message": "My book arrived damaged"})
            iid = (started.structured_content or {})["instance_id"]
            for _ in range(100):  # until the run parks in the approval wait
                status = (
                    await client.call_tool("support_ticket_status", {"instance_id": iid})
                ).structured_content
                if (status or {}).get("status") == "waiting":
                    break
                await asyncio.sleep(0.05)
            waiting = (status or {}).get("waiting_for") or {}
            schema = waiting["input_schemas"]["approve_refund"]["$defs"]["PendingApprovals"]["properties"]
            print("waiting for:", waiting["event_types"], {k: v["description"] for k, v in schema.items()})
            answer = {"approvals": {"pay": True}}
            await client.call_tool("support_ticket_respond", {"instance_id": iid, "data": answer})
            done = await client.call_tool("support_ticket_result", {"instance_id": iid, "wait_seconds": 30})
            print("result:", (done.structured_content or {})["result"])


if __name__ == "__main__":
    asyncio.run(main())
