"""Subprocess helper: ``python -m tests.storage.sync_worker URL SETTING`` acknowledges durable writes.

Run under ``strace`` by ``test_sqlite_synchronous.py``. It starts a workflow of a few activities that
then waits for an event, sends the event and reads the result. Each time something has been
acknowledged as durable it writes one ``ACK <what>`` line to stdout with a single ``write`` call:

* ``ACK ready``: the app is initialized (the database file and its schema exist);
* ``ACK start``: ``start()`` returned (the instance is stored);
* ``ACK step <i>``: written by activity ``i + 1`` before it does anything, so step ``i`` was recorded
  (the workflow only goes on to the next step once the previous one is recorded);
* ``ACK event``: ``send_event()`` returned (the event is stored);
* ``ACK result``: the result was read.
"""

from __future__ import annotations

import asyncio
import os
import sys

from durable_core import Catalog, EddaApp, WorkflowContext, activity, wait_event, workflow

STEPS = 4
catalog = Catalog()


def ack(what: str) -> None:
    """One ``write`` system call, so the trace shows exactly when the acknowledgement was made."""
    os.write(sys.stdout.fileno(), f"ACK {what}\n".encode())


@activity
async def step(ctx: WorkflowContext, i: int) -> int:
    if i > 0:
        ack(f"step {i - 1}")
    return i


@workflow(catalog=catalog)
async def acked_steps(ctx: WorkflowContext) -> int:
    total = 0
    for i in range(STEPS):
        total += await step(ctx, i)
    received = await wait_event(ctx, "sync.go")
    return total + int(received.data["n"])


async def main(url: str, setting: str) -> None:
    async with EddaApp(url, workflows=list(catalog), sqlite_synchronous=setting, poll_interval=60.0) as app:
        ack("ready")
        instance_id = await acked_steps.start()
        ack("start")
        await app.send_event("sync.go", "tests", {"n": 100}, instance_id=instance_id)
        ack("event")
        result = await app.handle(instance_id).result(timeout=30)
        ack(f"result {result}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
