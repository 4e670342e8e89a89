"""Determinism checks: a code change that contradicts recorded history blocks the instance, visibly.

Three versions of one workflow stand for three deploys of the same module (each lives in its own
``Catalog`` so they can share a name in one file):

1. v1 is running an order when the process stops.
2. v2 inserts a new first step. The replay check (run it in CI) reports the mismatch; deployed anyway,
   the engine raises ``NonDeterminismError`` at replay and parks the instance as BLOCKED - not failed,
   and without running compensations.
3. v3 adds the new step after the recorded ones instead. The replay check passes, ``app.resume()``
   continues the blocked instance and it completes.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from durable_core import (
    Catalog,
    EddaApp,
    InstanceStatus,
    ReplayReport,
    Workflow,
    WorkflowBlockedError,
    WorkflowContext,
    activity,
    workflow,
)

CHARGE_STARTED = asyncio.Event()
V1_STOPPED = asyncio.Event()


@activity
async def reserve(ctx: WorkflowContext, order_id: str) -> str:
    return f"reserved {order_id}"


@activity
async def charge(ctx: WorkflowContext, order_id: str) -> str:
    if not V1_STOPPED.is_set():  # v1's process stops while this step is in flight
        CHARGE_STARTED.set()
        await asyncio.Event().wait()
    return f"charged {order_id}"


@activity
async def fraud_check(ctx: WorkflowContext, order_id: str) -> str:
    return f"checked {order_id}"


@workflow(name="order", catalog=Catalog())
async def order_v1(ctx: WorkflowContext, order_id: str) -> list[str]:
    return [await reserve(ctx, order_id), await charge(ctx, order_id)]


@workflow(name="order", catalog=Catalog())
async def order_v2(ctx: WorkflowContext, order_id: str) -> list[str]:
    checked = await fraud_check(ctx, order_id)  # new step at position 0, where history has `reserve`
    return [checked, await reserve(ctx, order_id), await charge(ctx, order_id)]


@workflow(name="order", catalog=Catalog())
async def order_v3(ctx: WorkflowContext, order_id: str) -> list[str]:
    steps = [await reserve(ctx, order_id), await charge(ctx, order_id)]
    return [*steps, await fraud_check(ctx, order_id)]  # new steps go after the recorded ones


async def replay_check(db_url: str, code: Workflow[..., list[str]]) -> list[ReplayReport]:
    """What a CI job runs before deploying: replay stored histories against the new code."""
    async with EddaApp(db_url, workflows=[code], run_workers=False) as checker:
        return await checker.replay_check()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'orders.db'}"

        v1 = EddaApp(db_url, workflows=[order_v1], shutdown_timeout=0)
        await v1.initialize()
        instance_id = await order_v1.start(order_id="A-1")
        await CHARGE_STARTED.wait()
        await v1.shutdown()
        V1_STOPPED.set()

        [report] = await replay_check(db_url, order_v2)
        print(f"replay check of v2: ok={report.ok}\n  {report.message}")
        assert not report.ok

        async with EddaApp(db_url, workflows=[order_v2]) as v2:
            try:
                await v2.handle(instance_id).result(timeout=10)
            except WorkflowBlockedError:
                record = await v2.get_instance(instance_id)
                print(f"v2 deployed anyway: status={record.status.value}")
                assert record.status is InstanceStatus.BLOCKED

        [report] = await replay_check(db_url, order_v3)
        print(f"replay check of v3: ok={report.ok}")
        assert report.ok

        async with EddaApp(db_url, workflows=[order_v3]) as v3:
            assert await v3.resume(instance_id)
            result = await v3.handle(instance_id).result(timeout=10)
            print("v3 resumed the blocked instance:", result)
    assert result == ["reserved A-1", "charged A-1", "checked A-1"]
    print("OK: the blocked instance completed after the fix")


if __name__ == "__main__":
    asyncio.run(main())
