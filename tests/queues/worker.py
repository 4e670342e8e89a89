"""A worker / starter process for the two-process queue tests.

``python -m tests.queues.worker DB_URL LOG_PATH MODE``:

* ``work``: run workers for queue ``q`` (concurrency 2) until SIGTERM; each ``tracked`` activity appends
  ``start <ns>`` / ``end <ns>`` (system-wide monotonic clock) to LOG_PATH.
* ``debounce`` / ``singleton`` / ``singleton_queue``: wait for LOG_PATH + ``.go`` to exist (so both
  processes start at once), make 10 keyed starts and print their ids as one JSON list; then keep working
  until SIGTERM. A ``singleton_queue`` run logs ``start``/``end`` like ``tracked`` and its value to
  LOG_PATH + ``.runs``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

from durable_core import Catalog, EddaApp, Queue, WorkflowContext, activity, wait_event, workflow

CATALOG = Catalog()
QUEUES = [Queue("q", concurrency=2)]
KEYED_STARTS = 10


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@activity
async def tracked_step(ctx: WorkflowContext, log: str) -> None:
    _append(Path(log), f"start {time.monotonic_ns()}")
    await asyncio.sleep(0.02)  # the work whose overlap across processes is measured
    _append(Path(log), f"end {time.monotonic_ns()}")


@workflow(catalog=CATALOG, queue="q")
async def tracked(ctx: WorkflowContext, log: str, n: int) -> int:
    await tracked_step(ctx, log)
    return n


@workflow(catalog=CATALOG)
async def debounced(ctx: WorkflowContext, log: str, value: str) -> str:
    _append(Path(log), f"run {value}")
    return value


@workflow(catalog=CATALOG)
async def single(ctx: WorkflowContext, value: str) -> str:
    await wait_event(ctx, "go", timeout_seconds=120)
    return value


@activity
async def queued_step(ctx: WorkflowContext, log: str, value: str) -> None:
    _append(Path(log), f"start {time.monotonic_ns()}")
    _append(Path(f"{log}.runs"), value)
    await asyncio.sleep(0.02)  # the work whose overlap across processes is measured
    _append(Path(log), f"end {time.monotonic_ns()}")


@workflow(catalog=CATALOG)
async def single_queued(ctx: WorkflowContext, log: str, value: str) -> str:
    await queued_step(ctx, log, value)
    return value


async def _keyed_starts(mode: str, log: Path) -> list[str]:
    go = Path(f"{log}.go")
    while True:
        if await asyncio.to_thread(go.exists):
            break
        await asyncio.sleep(0.005)  # both processes wait for the parent's signal, then start together
    ids = []
    for i in range(KEYED_STARTS):
        value = f"{os.getpid()}-{i}"
        if mode == "debounce":
            bound = debounced.with_options(debounce_key="k", debounce=timedelta(seconds=1))
            ids.append(await bound.start(log=str(log), value=value))
        elif mode == "singleton_queue":
            bound_q = single_queued.with_options(singleton_key="k", on_conflict="queue")
            ids.append(await bound_q.start(log=str(log), value=value))
        else:
            ids.append(await single.with_options(singleton_key="k").start(value=value))
    return ids


async def main(url: str, log: Path, mode: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    app = EddaApp(url, workflows=list(CATALOG), queues=QUEUES, poll_interval=0.05, lease_ttl=5.0)
    await app.initialize()
    print("ready", flush=True)
    if mode != "work":
        print(json.dumps(await _keyed_starts(mode, log)), flush=True)
    await stop.wait()
    await app.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
