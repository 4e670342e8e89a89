"""Run control: retry a failed run from its failed step, fork it, pause and unpause it, terminate one."""

import asyncio
import tempfile
from collections import Counter
from pathlib import Path

from durable_core import (
    EddaApp,
    InstanceStatus,
    RetryPolicy,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    wait_event,
    workflow,
)

calls: Counter[str] = Counter()
carrier_up = False


@activity
async def reserve(ctx: WorkflowContext, order: str) -> str:
    calls["reserve"] += 1
    return f"reserved {order}"


@activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.01, jitter=0.0))
async def ship(ctx: WorkflowContext, order: str) -> str:
    calls["ship"] += 1
    if not carrier_up:
        raise ConnectionError("carrier API down")
    return f"shipped {order}"


@workflow
async def fulfil(ctx: WorkflowContext, order: str) -> list[str]:
    return [await reserve(ctx, order), await ship(ctx, order)]


@workflow
async def approval(ctx: WorkflowContext, order: str) -> str:
    event = await wait_event(ctx, "approved")
    return f"{order} approved by {event.data['by']}"


async def until(app: EddaApp, iid: str, status: InstanceStatus) -> None:
    for _ in range(1000):  # bounded poll
        record = await app.get_instance(iid)
        if record.status is status and record.lease_owner is None:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{iid} never became {status}")


async def main() -> None:
    global carrier_up
    db = Path(tempfile.mkdtemp()) / "run-control.db"
    async with EddaApp(f"sqlite:///{db}", poll_interval=0.1) as app:
        # 1. A run fails: both attempts of ship() hit the outage.
        iid = await fulfil.start(order="ORD-7")
        try:
            await app.wait_result(iid, timeout=10)
        except WorkflowFailedError as exc:
            print("failed:", exc)
        # 2. The outage is over: retry from the failed step, with a fresh attempt budget.
        carrier_up = True
        print("retry:", (await app.retry(iid, by="ops@example.com", reason="carrier is back")).value)
        print("result:", await app.wait_result(iid, timeout=10))
        print("reserve ran", calls["reserve"], "time(s); ship ran", calls["ship"], "time(s)")

        # 3. Fork the finished run at its 'ship' step: a new instance re-runs only from there.
        fork = await app.fork(iid, at="ship", new_instance_id="ORD-7-reshipped", by="ops@example.com")
        print("fork result:", await app.wait_result(fork, timeout=10))
        record = await app.get_instance(fork)
        print(f"fork of {record.forked_from} at position {record.forked_at}; reserve ran {calls['reserve']}")

        # 4. Pause a waiting run; the event sent meanwhile waits in its mailbox until unpause.
        waiting = await approval.start(order="ORD-8")
        await until(app, waiting, InstanceStatus.WAITING)
        await app.pause(waiting, by="ops@example.com", reason="audit")
        await app.send_event("approved", "example", {"by": "carol"}, instance_id=waiting)
        print("while paused:", (await app.get_instance(waiting)).status.value)
        await app.unpause(waiting, by="ops@example.com")
        print("after unpause:", await app.wait_result(waiting, timeout=10))

        # 5. Terminate a wedged run: FAILED at once, no compensations.
        stuck = await approval.start(order="ORD-9")
        await until(app, stuck, InstanceStatus.WAITING)
        await app.terminate(stuck, "customer left", by="ops@example.com")
        try:
            await app.wait_result(stuck, timeout=10)
        except WorkflowFailedError as exc:
            print("terminated:", exc.type_name)

        for entry in await app.control_log(iid):
            print(f"journal: {entry.action.value} by {entry.by} ({entry.reason or '-'}) {entry.detail}")


if __name__ == "__main__":
    asyncio.run(main())
