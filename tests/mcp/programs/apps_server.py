"""An MCP server with a human-input durable tool, served over HTTP for the MCP Apps view test.

Usage: ``edda-mcp serve tests.mcp.programs.apps_server:server --db URL --transport http --port N``.
"""

from __future__ import annotations

from pydantic import BaseModel

from durable_core import WorkflowContext, activity, wait_event
from edda_mcp import EddaMCPServer

server = EddaMCPServer("apps-view-server", start_wait_seconds=0, poll_interval=0.05)


class Approval(BaseModel):
    """Approve the booking?"""

    approved: bool
    approver: str
    seats: int = 1


@activity
async def apps_quote(ctx: WorkflowContext, amount: float) -> str:
    return f"quote {amount:.2f}"


@activity
async def apps_book(ctx: WorkflowContext, quote: str, approver: str, seats: int) -> str:
    return f"{quote} booked for {seats} by {approver}"


@server.durable_tool(human_input=True, description="Quote, ask a human to approve, book.")
async def apps_booking(ctx: WorkflowContext, amount: float) -> str:
    quote = await apps_quote(ctx, amount)
    answer = await wait_event(ctx, "approval", model=Approval)
    decision = answer.data
    assert isinstance(decision, Approval)
    if not decision.approved:
        return f"{quote} rejected by {decision.approver}"
    return await apps_book(ctx, quote, decision.approver, decision.seats)
