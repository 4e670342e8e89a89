"""A LlamaIndex workflow with human approval, run durably.

``draft`` writes a refund proposal, ``ask`` returns an ``InputRequiredEvent`` and the durable workflow
waits in the database (no worker, no memory) for a ``HumanResponseEvent``. The first app stops while
the instance waits; the answer is sent from outside with ``app.send_event(..., instance_id=...)``; a
second app resumes the LlamaIndex run from its last checkpoint: ``draft`` does not run again, the
``ctx.store`` value it wrote is still there, and ``settle`` runs once.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from durable_core import EddaApp, InstanceStatus, WorkflowContext, workflow
from durable_llamaindex import DurableLlamaWorkflow

RUNS: Counter[str] = Counter()  # how often each step body really ran in this process


class Proposal(Event):
    customer: str
    amount: float


class ApprovalRequest(InputRequiredEvent):
    prefix: str


class Approval(HumanResponseEvent):
    response: str


class Status(Event):
    message: str


class RefundFlow(Workflow):
    @step
    async def draft(self, ctx: Context, ev: StartEvent) -> Proposal:
        RUNS["draft"] += 1
        await ctx.store.set("ticket", f"T-{ev.customer}")
        ctx.write_event_to_stream(Status(message="proposal drafted"))
        return Proposal(customer=ev.customer, amount=ev.amount)

    @step
    async def ask(self, ctx: Context, ev: Proposal) -> ApprovalRequest:
        RUNS["ask"] += 1
        await ctx.store.set("amount", ev.amount)
        return ApprovalRequest(prefix=f"Refund {ev.amount:.2f} to {ev.customer}?")

    @step
    async def settle(self, ctx: Context, ev: Approval) -> StopEvent:
        RUNS["settle"] += 1
        ticket = await ctx.store.get("ticket")
        amount = await ctx.store.get("amount")
        if ev.response == "approve":
            return StopEvent(result=f"{ticket}: refunded {amount:.2f}")
        return StopEvent(result=f"{ticket}: refund declined")


REFUNDS = DurableLlamaWorkflow(
    lambda: RefundFlow(timeout=None),
    name="refunds",
    response_event_type="refund.decision",
    response_event=Approval,
)


def show(event: Event) -> None:
    """Called with each event the run streams (once, when it is first recorded)."""
    fields = {"result": event.result} if isinstance(event, StopEvent) else event.model_dump()
    print(f"  streamed {type(event).__name__}: {fields}")


@workflow
async def refund(ctx: WorkflowContext, customer: str, amount: float) -> str:
    result: str = await REFUNDS.run(ctx, customer=customer, amount=amount, on_event=show)
    return result


async def wait_until_waiting(app: EddaApp, instance_id: str) -> None:
    """Poll (bounded) until the instance waits for the decision."""
    for _ in range(1000):
        if (await app.get_instance(instance_id)).status is InstanceStatus.WAITING:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the instance never started waiting")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'refunds.db'}"
        async with EddaApp(db_url) as first:
            instance_id = await refund.start(customer="ada", amount=42.5)
            await wait_until_waiting(first, instance_id)
            wait = await first.get_wait(instance_id)
            print("waiting for:", wait.event_types if wait else None)
        print("first app stopped; the instance waits in the database")

        async with EddaApp(db_url) as second:
            await second.send_event(
                "refund.decision", "support-desk", {"response": "approve"}, instance_id=instance_id
            )
            print("result:", await second.handle(instance_id).result(timeout=10))
            steps = [
                entry.name
                for entry in await second.get_history(instance_id)
                if entry.kind.value == "activity"
            ]
            print("checkpoints:", steps)

    print("step runs:", dict(RUNS))
    assert dict(RUNS) == {"draft": 1, "ask": 1, "settle": 1}, "completed steps must not re-run"
    print("OK: the approval survived a restart and no step ran twice")


if __name__ == "__main__":
    asyncio.run(main())
