"""The worker-process pattern: a starter that never runs workflows, and a worker that drains on SIGTERM.

The deployment guide's example. The starter (a web handler, a CLI, an MCP server) uses a client-only app
(``run_workers=False``); the worker process runs instances until it receives SIGTERM, then stops taking
new work, lets running instances finish for up to ``shutdown_timeout`` seconds and releases the rest to
other workers. Here both live in one program, and the worker sends itself SIGTERM once the order is done.
"""

import asyncio
import os
import signal

from durable_core import EddaApp, WorkerOptions, WorkflowContext, activity, workflow

DB_URL = "sqlite:///orders.db"


@activity
async def ship(ctx: WorkflowContext, order_id: str) -> str:
    return f"parcel-{order_id}"


@workflow
async def fulfil(ctx: WorkflowContext, order_id: str) -> str:
    return await ship(ctx, order_id)


async def start_from_a_client() -> str:
    """What a web request handler does: start the workflow, never run it."""
    async with EddaApp(DB_URL, workflows=[fulfil], run_workers=False):
        return await fulfil.start(order_id="ORD-7")


async def run_worker_until_sigterm() -> None:
    """The worker process's main: run instances until SIGTERM or SIGINT, then drain and exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker = WorkerOptions(max_concurrent_runs=50, shutdown_timeout=20.0)
    async with EddaApp(DB_URL, workflows=[fulfil], worker=worker) as app:
        print("worker running; SIGTERM drains it")
        instance_id = (await app.list_instances(limit=1))[0].instance_id
        print(f"{instance_id}: {await app.wait_result(instance_id, timeout=30)}")
        os.kill(os.getpid(), signal.SIGTERM)  # what `systemctl stop` or `docker stop` sends
        await stop.wait()
        print("SIGTERM received: draining")
    print("worker stopped: nothing left running here")


async def main() -> None:
    instance_id = await start_from_a_client()
    print(f"started {instance_id} from a client-only app")
    await run_worker_until_sigterm()


if __name__ == "__main__":
    asyncio.run(main())
