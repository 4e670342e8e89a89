"""A CI step: replay stored histories against the current workflow code; exit 1 on any divergence.

In your CI, import your real workflows and pass the URL of a copy of the production database (the check
only reads). Here a temporary SQLite database first gets one finished and one unfinished instance.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from durable_core import EddaApp, Workflow, WorkflowContext, activity, workflow

SECOND_USER_STARTED = asyncio.Event()


@activity
async def lookup_user(ctx: WorkflowContext, user_id: int) -> str:
    return f"user-{user_id}"


@activity
async def send_welcome(ctx: WorkflowContext, name: str) -> str:
    if name == "user-2":  # never finishes: this instance is still running when the app stops
        SECOND_USER_STARTED.set()
        await asyncio.Event().wait()
    return f"welcomed {name}"


@workflow
async def onboard(ctx: WorkflowContext, user_id: int) -> str:
    name = await lookup_user(ctx, user_id)
    return await send_welcome(ctx, name)


async def replay_check(db_url: str, workflows: list[Workflow[..., Any]]) -> int:
    """Check every stored instance of ``workflows``; return a process exit code."""
    # A client-only app: it runs no instances and leaves the schema alone.
    async with EddaApp(db_url, workflows=workflows, run_workers=False, auto_migrate=False) as app:
        reports = await app.replay_check()
    failed = [report for report in reports if not report.ok]
    for report in failed:
        print(f"FAIL {report.workflow_name} {report.instance_id}: {report.message}")
    print(f"replay check: {len(reports)} instance(s) checked, {len(failed)} diverged")
    return 1 if failed else 0


async def record_some_history(db_url: str) -> None:
    async with EddaApp(db_url, shutdown_timeout=0):
        await onboard.start_and_wait(user_id=1)
        await onboard.start(user_id=2)
        await SECOND_USER_STARTED.wait()


async def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'production-copy.db'}"
        await record_some_history(db_url)
        return await replay_check(db_url, [onboard])


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
