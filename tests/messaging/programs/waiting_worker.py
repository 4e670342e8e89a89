"""A worker process for the cross-process test: ``python -m tests.messaging.programs.waiting_worker URL``.

Serves ``await_go`` with a 60 s fallback poll (so only a pushed notification wakes it quickly), prints
``ready`` once initialized, and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from durable_core import Catalog, EddaApp, WorkflowContext, wait_event, workflow

CATALOG = Catalog()


@workflow(catalog=CATALOG)
async def await_go(ctx: WorkflowContext, label: str) -> str:
    """Wait for a ``go`` event and return ``label:n``."""
    event = await wait_event(ctx, "go")
    return f"{label}:{event.data['n']}"


async def main(url: str) -> None:
    """Serve until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with EddaApp(url, "waiting-worker", workflows=list(CATALOG), poll_interval=60.0):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
