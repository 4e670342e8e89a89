"""The operator CLI on a real database: list, show, send an event, purge.

Creates a few instances, then runs ``edda-mcp`` commands against the database the way an operator would,
with ``EDDA_MCP_DB_URL`` set instead of ``--db`` on every command. To keep the example quick they run in
this process through ``edda_mcp.cli.main`` (the function behind the ``edda-mcp`` script); in a shell,
``edda-mcp instances list ...`` prints the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os

from durable_core import EddaApp, TerminalError, WorkflowContext, activity, wait_event, workflow
from edda_mcp import cli

DB_URL = "sqlite:///operator-demo.db"


@activity
async def ship(ctx: WorkflowContext, order_id: str) -> str:
    if order_id.startswith("BAD"):
        raise TerminalError(f"no address for {order_id}")
    return f"parcel-{order_id}"


@workflow
async def fulfil(ctx: WorkflowContext, order_id: str) -> str:
    return await ship(ctx, order_id)


@workflow
async def approve(ctx: WorkflowContext, order_id: str) -> str:
    event = await wait_event(ctx, "order.approved")
    return f"{order_id} approved by {event.data['by']}"


def edda_mcp(*args: str) -> str:
    """Run ``edda-mcp ARGS`` and return what it printed (stdout, then stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        cli.main(list(args), out=out)
    return out.getvalue() + err.getvalue()


async def make_instances() -> None:
    async with EddaApp(DB_URL, poll_interval=0.05) as app:
        await app.wait_result(
            await fulfil.with_options(instance_id="order-A-1").start(order_id="A-1"), timeout=10
        )
        bad = await fulfil.with_options(instance_id="order-BAD-2").start(order_id="BAD-2")
        try:
            await app.wait_result(bad, timeout=10)
        except Exception as exc:
            print(f"order-BAD-2 failed: {exc}")
        await approve.with_options(instance_id="approval-C-3").start(order_id="C-3")
        for _ in range(200):  # until it is parked on its event
            if (await app.get_instance("approval-C-3")).status.value == "waiting":
                break
            await asyncio.sleep(0.05)


async def finish_approval() -> str:
    async with EddaApp(DB_URL, poll_interval=0.05) as app:
        result: str = await app.wait_result("approval-C-3", timeout=10)
        return result


def main() -> None:
    os.environ["EDDA_MCP_DB_URL"] = DB_URL  # what an operator exports once
    asyncio.run(make_instances())
    print(edda_mcp("instances", "list", "--status", "failed", "--status", "waiting"))
    print(edda_mcp("instances", "show", "approval-C-3"))
    print(edda_mcp("instances", "send-event", "order.approved", "approval-C-3", "--data", '{"by": "ops"}'))
    print(asyncio.run(finish_approval()))
    print(edda_mcp("instances", "purge", "--older-than", "0s", "--status", "failed", "--yes"))
    print(edda_mcp("instances", "list", "--db", "sqlite:///typo.db"))
    print(f"typo.db created: {os.path.exists('typo.db')}")


if __name__ == "__main__":
    main()
