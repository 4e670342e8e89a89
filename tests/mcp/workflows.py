"""Workflows the MCP tests expose as durable tools (unique names: they share the default catalog)."""

from __future__ import annotations

import asyncio
from collections import Counter

from pydantic import BaseModel

from durable_core import WorkflowContext, activity, compensation, register_compensation, wait_event, workflow

CALLS: Counter[str] = Counter()
"""How often each activity body ran (live, not replayed), per test (reset by the fixture)."""


class Gates:
    """asyncio events a test opens to let a gated activity finish (no sleeps in tests)."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def get(self, name: str) -> asyncio.Event:
        return self._events.setdefault(name, asyncio.Event())

    def open(self, name: str) -> None:
        self.get(name).set()

    def clear(self) -> None:
        self._events.clear()


GATES = Gates()


class Receipt(BaseModel):
    order_id: str
    total: float
    steps: list[str]


@activity
async def mcp_t_step(ctx: WorkflowContext, name: str) -> str:
    CALLS[name] += 1
    return f"{name}-done"


@activity
async def mcp_t_gated(ctx: WorkflowContext, gate: str) -> str:
    CALLS[f"gated:{gate}"] += 1
    await GATES.get(gate).wait()
    return f"{gate}-opened"


@compensation
async def mcp_t_refund(ctx: WorkflowContext, order_id: str) -> None:
    CALLS[f"refund:{order_id}"] += 1


@workflow
async def mcp_t_three_steps(ctx: WorkflowContext, order_id: str, total: float = 10.0) -> Receipt:
    """Three quick steps."""
    steps = [await mcp_t_step(ctx, f"{order_id}:{n}") for n in ("reserve", "charge", "ship")]
    return Receipt(order_id=order_id, total=total, steps=steps)


@workflow
async def mcp_t_gated_order(ctx: WorkflowContext, order_id: str, gate: str) -> dict[str, str]:
    """A step, a step that waits until the test opens the gate, and a last step."""
    first = await mcp_t_step(ctx, f"{order_id}:reserve")
    register_compensation(ctx, mcp_t_refund, order_id=order_id)
    second = await mcp_t_gated(ctx, gate)
    third = await mcp_t_step(ctx, f"{order_id}:ship")
    return {"first": first, "second": second, "third": third}


@workflow
async def mcp_t_failing(ctx: WorkflowContext, reason: str) -> str:
    """Fails after one step."""
    await mcp_t_step(ctx, "before-failure")
    raise ValueError(f"cannot continue: {reason}")


class Approval(BaseModel):
    approved: bool
    approver: str


@workflow
async def mcp_t_approval(ctx: WorkflowContext, amount: float) -> str:
    """Asks a human to approve the amount, then books it."""
    await mcp_t_step(ctx, f"request:{amount}")
    answer = await wait_event(ctx, "approval", model=Approval)
    decision = answer.data
    assert isinstance(decision, Approval)
    verdict = "approved" if decision.approved else "rejected"
    return f"{amount:.2f} {verdict} by {decision.approver}"
