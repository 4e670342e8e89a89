"""An MCP server whose durable tool is a LlamaIndex workflow that waits for human approval.

Serve it to an MCP host over stdio or streamable HTTP:

    edda-mcp serve examples/llamaindex_mcp_server.py:server
    edda-mcp serve examples/llamaindex_mcp_server.py:server --transport http --port 8000

`refund` starts the LlamaIndex workflow and returns an instance id; the workflow drafts a refund and
asks for approval with an `InputRequiredEvent`. The durable run then waits in the database (no worker
held) until an MCP client answers with `refund_respond` (or through elicitation); `refund_status` shows
what it waits for, with the JSON schema of the answer. Finished steps never run again, even if the
server restarts while the run waits. Run this file directly for a short in-process session.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Literal

from mcp import Client
from pydantic import BaseModel
from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from durable_core import WorkflowContext
from durable_llamaindex import DurableLlamaWorkflow
from edda_mcp import EddaMCPServer


class Proposal(Event):
    customer: str
    amount: float


class ApprovalRequest(InputRequiredEvent):
    prefix: str


class RefundDecision(HumanResponseEvent):
    decision: Literal["approve", "decline"]


class RefundFlow(Workflow):
    @step
    async def draft(self, ctx: Context, ev: StartEvent) -> Proposal:
        await ctx.store.set("ticket", f"T-{ev.customer}")
        return Proposal(customer=ev.customer, amount=ev.amount)

    @step
    async def ask(self, ctx: Context, ev: Proposal) -> ApprovalRequest:
        question = f"Refund {ev.amount:.2f} to {ev.customer}?"
        await ctx.store.set("amount", ev.amount)
        await ctx.store.set("question", question)
        return ApprovalRequest(prefix=question)

    @step
    async def settle(self, ctx: Context, ev: RefundDecision) -> StopEvent:
        ticket = await ctx.store.get("ticket")
        amount = await ctx.store.get("amount")
        refunded = amount if ev.decision == "approve" else 0.0
        question = await ctx.store.get("question")
        return StopEvent(
            result={"ticket": ticket, "asked": question, "decision": ev.decision, "refunded": refunded}
        )


REFUNDS = DurableLlamaWorkflow(
    lambda: RefundFlow(timeout=None),
    name="refunds",
    response_event_type="refund.decision",
    response_event=RefundDecision,
)


class RefundOutcome(BaseModel):
    ticket: str
    asked: str
    decision: str
    refunded: float


server = EddaMCPServer(
    "Refund Desk",
    db_url="sqlite:///refunds.db",
    instructions="Start a refund with `refund`; answer its approval with `refund_respond`.",
    start_wait_seconds=0,
)


@server.durable_tool(description="Refund a customer after a human approves it", human_input=True)
async def refund(ctx: WorkflowContext, customer: str, amount: float) -> RefundOutcome:
    result = await REFUNDS.run(ctx, customer=customer, amount=amount)
    return RefundOutcome(**result)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local = EddaMCPServer(
            "Refund Desk", db_url=f"sqlite:///{Path(tmp) / 'refunds.db'}", start_wait_seconds=2
        )
        local.durable_tool(refund, human_input=True)
        async with Client(local.mcp) as client:
            tools = await client.list_tools()
            print("tools:", ", ".join(sorted(t.name for t in tools.tools)))
            started = await client.call_tool("refund", {"customer": "ada", "amount": 42.5})
            iid = (started.structured_content or {})["instance_id"]
            status = await client.call_tool("refund_status", {"instance_id": iid})
            waiting = (status.structured_content or {})["waiting_for"]
            schema = waiting["input_schemas"]["refund.decision"]
            print(f"waiting for {waiting['event_types']}; answer fields: {sorted(schema['properties'])}")
            await client.call_tool("refund_respond", {"instance_id": iid, "data": {"decision": "approve"}})
            done = await client.call_tool("refund_result", {"instance_id": iid, "wait_seconds": 10})
            print("result:", (done.structured_content or {})["result"])


if __name__ == "__main__":
    asyncio.run(main())
