"""Waiting for events: an expense report waits durably for a manager's decision, with a deadline.

While it waits, the instance is stored as WAITING and holds no worker. ``app.get_wait()`` shows what it
waits for (and the JSON schema of the expected data); ``app.send_event(..., instance_id=...)`` answers it.
A timeout raises ``EventTimeoutError`` in the workflow, which here sends a reminder and waits once more.
"""

import asyncio
import tempfile
from pathlib import Path

from pydantic import BaseModel

from durable_core import (
    EddaApp,
    EventTimeoutError,
    FakeClock,
    StepKind,
    WaitInfo,
    WorkflowContext,
    activity,
    wait_event,
    workflow,
)

DAY = 24 * 3600


class Decision(BaseModel):
    approved: bool
    approver: str


@activity
async def remind_manager(ctx: WorkflowContext, report_id: str) -> None:
    print(f"reminder: {report_id} still needs a decision")


@activity
async def pay_out(ctx: WorkflowContext, report_id: str, amount: float) -> str:
    print(f"paying {amount:.2f} for {report_id}")
    return f"PAID-{report_id}"


@workflow
async def expense_report(ctx: WorkflowContext, report_id: str, amount: float) -> str:
    try:
        event = await wait_event(ctx, "expense.decided", timeout_seconds=3 * DAY, model=Decision)
    except EventTimeoutError:
        await remind_manager(ctx, report_id)
        try:
            event = await wait_event(ctx, "expense.decided", timeout_seconds=2 * DAY, model=Decision)
        except EventTimeoutError:
            return "expired: no decision within 5 days"
    decision = event.data  # a Decision: the event data was validated into the model
    if not decision.approved:
        return f"rejected by {decision.approver}"
    receipt = await pay_out(ctx, report_id, amount)
    return f"{receipt}, approved by {decision.approver} via {event.metadata.source}"


async def waiting(app: EddaApp, instance_id: str, waits: int) -> WaitInfo:
    """Poll (bounded) until the instance is parked in its ``waits``-th event wait."""
    for _ in range(1000):
        info = await app.get_wait(instance_id)
        kinds = [entry.kind for entry in await app.get_history(instance_id)]
        if info is not None and info.event_types and kinds.count(StepKind.NOW) == waits:
            return info
        await asyncio.sleep(0.01)
    raise TimeoutError("the instance never parked")


async def main() -> None:
    clock = FakeClock()  # skips days; in production leave `clock` out
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'events.db'}", clock=clock) as app:
            # the manager answers in time.
            r1 = await expense_report.start(report_id="R-1", amount=120.0)
            info = await waiting(app, r1, waits=1)
            print("R-1 waits for", info.event_types, "until", info.wake_at)
            schema = info.input_schemas["expense.decided"]  # Decision's JSON schema, for whoever answers
            assert isinstance(schema, dict) and isinstance(schema["properties"], dict)
            print("expected data fields:", sorted(schema["properties"]))
            await app.send_event(
                "expense.decided", "manager-ui", {"approved": True, "approver": "grace"}, instance_id=r1
            )
            print("R-1:", await app.handle(r1).result(timeout=10))

            # three days pass, a reminder goes out, then the decision arrives.
            r2 = await expense_report.start(report_id="R-2", amount=80.0)
            await waiting(app, r2, waits=1)
            clock.advance(3 * DAY)
            await waiting(app, r2, waits=2)
            await app.send_event(
                "expense.decided", "manager-ui", {"approved": False, "approver": "linus"}, instance_id=r2
            )
            print("R-2:", await app.handle(r2).result(timeout=10))

            # nobody ever answers.
            r3 = await expense_report.start(report_id="R-3", amount=5.0)
            await waiting(app, r3, waits=1)
            clock.advance(3 * DAY)
            await waiting(app, r3, waits=2)
            clock.advance(2 * DAY)
            print("R-3:", await app.handle(r3).result(timeout=10))


if __name__ == "__main__":
    asyncio.run(main())
