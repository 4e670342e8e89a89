"""The wait benchmarks' two workflows on the peer, edda-framework 0.16.2 (see ``wait_engines.py``).

Runs only inside ``bench/.peer-venv``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from edda import WorkflowContext, sleep_until, wait_event, workflow
from wait_engines import WAKE_EVENT


@workflow
async def bench_wake(ctx: WorkflowContext, i: int) -> int:
    """Wait for one ``bench.wake`` event and return its ``i``."""
    event = await wait_event(ctx, WAKE_EVENT)
    return int(event.data["i"])


@workflow
async def bench_timer(ctx: WorkflowContext, i: int, due_ts: float) -> int:
    """Sleep durably until ``due_ts`` (Unix time) and return ``i``."""
    await sleep_until(ctx, datetime.fromtimestamp(due_ts, UTC))
    return i
