"""Timeouts: per activity attempt, and per workflow (a deadline counted from start).

An activity's ``timeout`` bounds one attempt; a timed-out attempt raises ``ActivityTimeoutError`` and is
retried like any other failure. A workflow's ``timeout`` sets a deadline when the instance is started;
once it has passed, the next step is not started: the instance runs its compensations and fails with
``WorkflowTimeoutError``. A step already running is not interrupted by the workflow deadline, so give
long activities their own timeout.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from durable_core import (
    EddaApp,
    RetryPolicy,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowTimeoutError,
    activity,
    compensation,
    on_failure,
    workflow,
)

LOG: list[str] = []


@compensation
async def delete_chunk(ctx: WorkflowContext, chunk: int) -> None:
    LOG.append(f"delete chunk {chunk}")


@activity(timeout=1.0, retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.01))
@on_failure(delete_chunk)
async def upload_chunk(ctx: WorkflowContext, chunk: int) -> int:
    await asyncio.sleep(0.1)  # each chunk takes 0.1 s; an attempt may take at most 1 s
    LOG.append(f"upload chunk {chunk}")
    return chunk


@workflow(timeout=1.0)  # the whole upload must be done within 1 s of start
async def upload_file(ctx: WorkflowContext, chunks: int) -> int:
    for chunk in range(chunks):
        await upload_chunk(ctx, chunk)
    return chunks


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'uploads.db'}"):
            print("3 chunks:", await upload_file.start_and_wait(chunks=3))
            LOG.clear()
            try:
                await upload_file.start_and_wait(chunks=50)
            except WorkflowFailedError as exc:
                print("50 chunks:", type(exc.__cause__).__name__)
                assert isinstance(exc.__cause__, WorkflowTimeoutError)
    uploads = [line for line in LOG if line.startswith("upload")]
    deletes = [line for line in LOG if line.startswith("delete")]
    print(
        f"uploaded {len(uploads)} chunk(s) before the deadline; compensated: {deletes[0]} ... {deletes[-1]}"
    )
    assert 0 < len(uploads) < 50
    assert deletes == [line.replace("upload", "delete") for line in reversed(uploads)]
    print("OK: the deadline stopped the workflow and its compensations ran in reverse order")


if __name__ == "__main__":
    asyncio.run(main())
