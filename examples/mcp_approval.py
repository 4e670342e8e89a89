"""Human approval: a workflow waits durably for typed input that an MCP client supplies.

The workflow calls ``wait_event(ctx, "approval", model=Approval)`` and parks (no worker held, survives
restarts). MCP clients see what it waits for in ``<tool>_status`` (with the JSON schema of the answer)
and answer through ``<tool>_respond``; answers are validated against the model before delivery. A client
that supports elicitation is asked directly while the start tool waits: with an elicitation request
(handshake era) or an ``input_required`` round that the client answers by retrying the call (2026-07-28).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult
from pydantic import BaseModel, Field

from durable_core import WorkflowContext, activity, wait_event
from edda_mcp import EddaMCPServer


class Approval(BaseModel):
    approved: bool = Field(description="approve the expense?")
    approver: str = Field(description="who decided")


@activity
async def file_expense(ctx: WorkflowContext, employee: str, amount: float) -> str:
    return f"EXP-{employee}-{amount:.0f}"


@activity
async def pay_out(ctx: WorkflowContext, expense: str) -> str:
    return f"paid {expense}"


async def expense_approval(ctx: WorkflowContext, employee: str, amount: float) -> str:
    expense = await file_expense(ctx, employee, amount)
    answer = await wait_event(ctx, "approval", model=Approval)
    decision = answer.data
    assert isinstance(decision, Approval)
    if not decision.approved:
        return f"{expense} rejected by {decision.approver}"
    return f"{await pay_out(ctx, expense)} (approved by {decision.approver})"


def text(result: Any) -> str:
    return str(result.content[0].text).splitlines()[0]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EddaMCPServer(
            "Expenses", db_url=f"sqlite:///{Path(tmp) / 'expenses.db'}", start_wait_seconds=5
        )
        server.durable_tool(
            expense_approval,
            description="File an expense and wait for a manager's approval",
            human_input=True,
        )

        print("== a client without elicitation: status, then the respond tool")
        async with Client(server.mcp) as client:
            started = await client.call_tool("expense_approval", {"employee": "ann", "amount": 420})
            iid = (started.structured_content or {})["instance_id"]
            status = await client.call_tool("expense_approval_status", {"instance_id": iid})
            waiting = (status.structured_content or {})["waiting_for"]
            print(
                f"waiting for {waiting['event_types']} with fields {sorted(waiting['input_schemas']['approval']['properties'])}"
            )
            bad = await client.call_tool(
                "expense_approval_respond", {"instance_id": iid, "data": {"approved": "yes"}}
            )
            print(f"bad answer refused: {text(bad)}")
            await client.call_tool(
                "expense_approval_respond",
                {"instance_id": iid, "data": {"approved": True, "approver": "mia"}},
            )
            done = await client.call_tool("expense_approval_result", {"instance_id": iid, "wait_seconds": 10})
            print(f"result: {(done.structured_content or {})['result']}")

        print("== a client with elicitation is asked while the start tool waits")

        async def ask_user(context: Any, params: ElicitRequestParams) -> ElicitResult:
            print(f"elicitation: {params.message.split(' (')[0]} ...")
            return ElicitResult(action="accept", content={"approved": False, "approver": "leo"})

        async with Client(server.mcp, mode="legacy", elicitation_callback=ask_user) as client:
            started = await client.call_tool("expense_approval", {"employee": "bob", "amount": 99})
            print(f"result: {(started.structured_content or {})['result']}")

        print("== a 2026-07-28 client gets an input_required round and retries with the answer")
        async with Client(server.mcp, mode="2026-07-28", elicitation_callback=ask_user) as client:
            started = await client.call_tool("expense_approval", {"employee": "cai", "amount": 15})
            print(f"result: {(started.structured_content or {})['result']}")


if __name__ == "__main__":
    asyncio.run(main())
