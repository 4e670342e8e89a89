"""Observability hooks: implement any subset of ``WorkflowHooks`` and pass it as ``hooks=``.

Hook methods are awaited by the engine; an exception in a hook is logged and never affects the workflow.
Here the hooks print a trace and count events, e.g. to feed metrics or tracing.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from durable_core import EddaApp, RetryPolicy, WorkflowContext, activity, workflow


class PrintingHooks:
    """Implements part of ``WorkflowHooks`` by structure: no base class, missing methods are skipped."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    async def on_workflow_start(
        self, instance_id: str, workflow_name: str, input_data: dict[str, Any]
    ) -> None:
        self.counts["workflow_start"] += 1
        print(f"workflow {workflow_name} started with {input_data}")

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        self.counts["workflow_complete"] += 1
        print(f"workflow {workflow_name} completed: {result!r}")

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        self.counts["workflow_failed"] += 1
        print(f"workflow {workflow_name} failed: {error!r}")

    async def on_activity_retry(
        self,
        instance_id: str,
        activity_id: str,
        activity_name: str,
        error: Exception,
        attempt: int,
        delay: float,
    ) -> None:
        self.counts["activity_retry"] += 1
        print(f"  {activity_id} attempt {attempt} failed ({error}); retrying in {delay:.2f}s")

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        self.counts["activity_complete"] += 1
        print(f"  {activity_id} -> {result!r}{' (from history)' if cache_hit else ''}")


TRIES: Counter[str] = Counter()


@activity(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01))
async def geocode(ctx: WorkflowContext, address: str) -> str:
    TRIES[address] += 1
    if TRIES[address] == 1:
        raise ConnectionError("geocoder busy")
    return "59.91,10.75"


@activity
async def schedule_delivery(ctx: WorkflowContext, location: str) -> str:
    return f"van 7 to {location}"


@workflow
async def deliver(ctx: WorkflowContext, address: str) -> str:
    location = await geocode(ctx, address)
    return await schedule_delivery(ctx, location)


async def main() -> None:
    hooks = PrintingHooks()
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'hooks.db'}", hooks=hooks) as app:
            await deliver.start_and_wait(address="Karl Johans gate 1")
            await app.replay_check()  # a dry replay executes nothing and calls no hooks
    print("hook calls:", dict(hooks.counts))
    assert hooks.counts == {
        "workflow_start": 1,
        "activity_retry": 1,
        "activity_complete": 2,
        "workflow_complete": 1,
    }


if __name__ == "__main__":
    asyncio.run(main())
