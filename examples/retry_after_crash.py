"""Retry attempts are counted durably: a crash does not reset an activity's retry budget.

A worker process runs an activity whose first attempt fails and whose second attempt kills the
process with SIGKILL (a crash in the middle of the call). A second worker process on the same database
takes over the dead worker's lease at start-up (no need to wait for it to expire) and continues with
attempt 3: the failed attempt and the interrupted one both count.

Run: python examples/retry_after_crash.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from durable_core import EddaApp, RetryPolicy, WorkflowContext, activity, workflow


@activity(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.1))
async def call_partner_api(ctx: WorkflowContext, request_id: str) -> str:
    print(f"  [pid {os.getpid()}] call_partner_api attempt {ctx.attempt}", flush=True)
    if ctx.attempt == 1:
        raise ConnectionError("partner API timed out")
    if ctx.attempt == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies mid-call
    return f"{request_id} accepted on attempt {ctx.attempt}"


@workflow
async def sync_partner(ctx: WorkflowContext, request_id: str) -> str:
    return await call_partner_api(ctx, request_id)


async def worker(db_url: str, start: bool) -> None:
    async with EddaApp(db_url) as app:
        if start:
            await sync_partner.with_options(instance_id="sync-1").start(request_id="REQ-7")
        result = await app.handle("sync-1").result(timeout=60)
        print(f"  [pid {os.getpid()}] result: {result}", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'partner.db'}"
        command = [sys.executable, __file__, "--worker", db_url]
        first = subprocess.run([*command, "--start"], check=False, timeout=90)
        print(f"first worker exited with {first.returncode} (killed by SIGKILL: {first.returncode == -9})")
        second = subprocess.run(command, check=False, timeout=90, capture_output=True, text=True)
        print(second.stdout, end="")
    ok = second.returncode == 0 and "attempt 3" in second.stdout and "attempt 1" not in second.stdout
    print("OK: the retry budget survived the crash" if ok else "UNEXPECTED result")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        asyncio.run(worker(sys.argv[2], start="--start" in sys.argv))
    else:
        sys.exit(main())
