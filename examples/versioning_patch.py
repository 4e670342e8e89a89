"""Deploying a workflow change while runs are in flight: ctx.patched, then ctx.deprecate_patch.

Three deploys of one ``shipment`` workflow share a SQLite file. v1 runs wait for a "paid" event; v2 adds
a fraud check before the wait, guarded by ``ctx.patched``; v3 retires the guard. Each deploy is an app
serving that version's code (a real deploy replaces the module; here each version has its own catalog).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from durable_core import Catalog, EddaApp, InstanceStatus, WorkflowContext, activity, wait_event, workflow


@activity
async def pack(ctx: WorkflowContext, order: str) -> str:
    return f"packed {order}"


@activity
async def fraud_check(ctx: WorkflowContext, order: str) -> bool:
    print(f"  fraud check for {order}")
    return True


@activity
async def ship(ctx: WorkflowContext, order: str, checked: bool) -> str:
    return f"shipped {order}" + (" (checked)" if checked else "")


v1, v2, v3 = Catalog(), Catalog(), Catalog()


@workflow(catalog=v1, name="shipment")
async def shipment_v1(ctx: WorkflowContext, order: str) -> str:
    await pack(ctx, order)
    await wait_event(ctx, f"paid-{order}")
    return await ship(ctx, order, False)


@workflow(catalog=v2, name="shipment")
async def shipment_v2(ctx: WorkflowContext, order: str) -> str:
    await pack(ctx, order)
    checked = False
    if ctx.patched("fraud-check"):  # True on new runs, False on runs recorded by v1
        checked = await fraud_check(ctx, order)
    await wait_event(ctx, f"paid-{order}")
    return await ship(ctx, order, checked)


@workflow(catalog=v3, name="shipment")
async def shipment_v3(ctx: WorkflowContext, order: str) -> str:
    await pack(ctx, order)
    ctx.deprecate_patch("fraud-check")  # every open run has the marker (or no run lacks it): no branch
    checked = await fraud_check(ctx, order)
    await wait_event(ctx, f"paid-{order}")
    return await ship(ctx, order, checked)


async def wait_until_waiting(app: EddaApp, iid: str) -> None:
    while (await app.get_instance(iid)).status is not InstanceStatus.WAITING:  # noqa: ASYNC110 - parks elsewhere
        await asyncio.sleep(0.02)


async def deploy(db_url: str, catalog: Catalog, version: str) -> EddaApp:
    app = EddaApp(db_url, workflows=list(catalog), version=version, poll_interval=0.05)
    await app.initialize()
    return app


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'shop.db'}"

        app = await deploy(db_url, v1, "1.0")
        await app.start("shipment", {"order": "A"}, instance_id="A")
        await wait_until_waiting(app, "A")
        await app.shutdown()
        print("v1: order A waits for its payment")

        app = await deploy(db_url, v2, "2.0")
        print("v2 deployed; new order B:")
        await app.start("shipment", {"order": "B"}, instance_id="B")
        await wait_until_waiting(app, "B")
        for order in ("A", "B"):
            await app.send_event(f"paid-{order}", "shop", None, instance_id=order)
            print(f"{order}: {await app.handle(order).result(timeout=10)}")
        record = await app.get_instance("A")
        print(f"A was started by {record.app_version} and last run by {record.last_run_version}")
        await app.shutdown()

        app = await deploy(db_url, v3, "3.0")  # every run of the old path has finished
        print("v3 deployed; new order C:")
        await app.start("shipment", {"order": "C"}, instance_id="C")
        await wait_until_waiting(app, "C")
        await app.send_event("paid-C", "shop", None, instance_id="C")
        print(f"C: {await app.handle('C').result(timeout=10)}")
        blocked = await app.list_instances(status=InstanceStatus.BLOCKED)
        print(f"blocked instances: {len(blocked)}")
        await app.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
