"""Competing channel: a job queue worked by two long-running workers, each job done exactly once.

Jobs published before any worker subscribes wait in the channel's queue. Each worker subscribes with
``mode="competing"``, takes one job per run with ``receive`` and starts its next run with ``ctx.recur``, so
its history stays short however many jobs it handles (the subscription survives the recur).
"""

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from durable_core import EddaApp, WorkflowContext, activity, receive, subscribe, workflow

done: asyncio.Queue[tuple[str, int]] = asyncio.Queue()  # this demo's view of finished jobs


@activity
async def process_job(ctx: WorkflowContext, worker_id: str, job: dict[str, Any]) -> None:
    await done.put((worker_id, job["n"]))


@workflow
async def job_worker(ctx: WorkflowContext, worker_id: str, handled: int = 0) -> None:
    await subscribe(ctx, "jobs", mode="competing")  # idempotent: the same subscription every run
    job = await receive(ctx, "jobs")
    await process_job(ctx, worker_id, job.data)
    await ctx.recur(worker_id, handled + 1)  # archive this run's history; start the next run


async def waiting_for_a_job(app: EddaApp, instance_id: str) -> None:
    """Poll (bounded) until the worker has subscribed again and parked in ``receive``."""
    for _ in range(1000):
        info = await app.get_wait(instance_id)
        if info is not None and info.channels == ("jobs",):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the worker never parked")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'jobs.db'}") as app:
            for n in range(1, 5):
                await app.publish("jobs", {"n": n})  # no subscriber yet: the jobs wait in the queue
            workers = [await job_worker.start(worker_id=name) for name in ("w1", "w2")]
            for n in range(5, 9):
                await app.publish("jobs", {"n": n})

            finished = [await asyncio.wait_for(done.get(), 10) for _ in range(8)]
            jobs = sorted(n for _, n in finished)
            print("jobs done:", jobs)
            print("each job exactly once:", jobs == list(range(1, 9)))

            # Each worker now waits for its next job, with only its current run's history.
            for worker in workers:
                await waiting_for_a_job(app, worker)
                steps = [entry.name for entry in await app.get_history(worker)]
                print("worker waits on 'jobs'; history of its current run:", steps)


if __name__ == "__main__":
    asyncio.run(main())
