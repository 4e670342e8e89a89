"""The wait benchmarks' two workflows on this project's engine, ``durable_core`` (see ``wait_engines.py``).

They live in a private catalog, so they never clash with other definitions in the process.
"""

from __future__ import annotations

from datetime import UTC, datetime

from wait_engines import WAKE_EVENT

from durable_core import Catalog, WorkflowContext, sleep_until, wait_event, workflow

CATALOG = Catalog()


@workflow(name="bench_wake", catalog=CATALOG)
async def bench_wake(ctx: WorkflowContext, i: int) -> int:
    """Wait for one ``bench.wake`` event and return its ``i``."""
    event = await wait_event(ctx, WAKE_EVENT)
    return int(event.data["i"])


@workflow(name="bench_timer", catalog=CATALOG)
async def bench_timer(ctx: WorkflowContext, i: int, due_ts: float) -> int:
    """Sleep durably until ``due_ts`` (Unix time) and return ``i``."""
    await sleep_until(ctx, datetime.fromtimestamp(due_ts, UTC))
    return i
