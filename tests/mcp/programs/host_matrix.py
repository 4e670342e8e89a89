"""An MCP server whose durable tools reach every result shape, for the real-host (TypeScript) tests.

``quick`` finishes within its wait, ``approval`` waits for typed human input (``approval_respond``
answers it), ``failing`` fails, ``pending`` waits for an event nobody sends, ``typed`` returns a
model (its result schema is an object) and ``diverging`` replays differently once answered, so it
ends blocked by the determinism check. The opt-in run-control admin tools (``runs_retry``, ``_fork``,
``_pause``, ``_unpause``, ``_terminate``) are on. The database comes from ``EDDA_MCP_DB_URL`` (``edda-mcp serve
--db``). Serve it with ``edda-mcp serve tests.mcp.programs.host_matrix:server [--transport http ...]``.
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel

from durable_core import TerminalError, WorkflowContext, activity, wait_event
from edda_mcp import EddaMCPServer

server = EddaMCPServer("host-matrix", start_wait_seconds=5, poll_interval=0.05, run_control_tools=True)


class Approval(BaseModel):
    approved: bool
    approver: str


class Quote(BaseModel):
    sku: str
    price: float
    tags: list[str]


@activity
async def hm_step(ctx: WorkflowContext, name: str) -> str:
    return f"{name}-done"


@server.durable_tool(description="Two quick steps; finishes within the start tool's wait.")
async def quick(ctx: WorkflowContext, order_id: str, count: int = 1) -> dict[str, str]:
    first = await hm_step(ctx, f"{order_id}:a")
    return {"order_id": order_id, "first": first, "count": str(count)}


@server.durable_tool(description="Quotes a price (a typed result).", wait_seconds=5)
async def typed(ctx: WorkflowContext, sku: str) -> Quote:
    await hm_step(ctx, sku)
    return Quote(sku=sku, price=9.5, tags=["new"])


@server.durable_tool(description="Waits for a human to approve.", wait_seconds=0, human_input=True)
async def approval(ctx: WorkflowContext, amount: float) -> str:
    await hm_step(ctx, f"request:{amount}")
    answer = await wait_event(ctx, "approval", model=Approval)
    decision = answer.data
    assert isinstance(decision, Approval)
    return f"{amount:.2f} {'approved' if decision.approved else 'rejected'} by {decision.approver}"


@server.durable_tool(description="Fails after one step.", wait_seconds=5)
async def failing(ctx: WorkflowContext, reason: str) -> str:
    await hm_step(ctx, "before-failure")
    raise TerminalError(f"cannot continue: {reason}")


@server.durable_tool(description="Waits for an event nobody sends.", wait_seconds=0)
async def pending(ctx: WorkflowContext, order_id: str) -> str:
    await wait_event(ctx, "never")
    return order_id


class Go(BaseModel):
    go: bool


RUNS = itertools.count()


@server.durable_tool(description="Diverges on replay (blocked).", wait_seconds=0, human_input=True)
async def diverging(ctx: WorkflowContext, order_id: str) -> str:
    await hm_step(ctx, f"{order_id}:{next(RUNS)}")  # non-deterministic on purpose: differs on replay
    await wait_event(ctx, "go", model=Go)
    return order_id


app = server.asgi_app()
