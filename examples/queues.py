"""Queues: at most two LLM calls at once, one per tenant, fair across tenants, plus a shared API rate limit."""

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

from durable_core import EddaApp, Queue, RateLimit, WorkflowContext, activity, workflow

running = 0
peak = 0


@activity(rate_limit="llm-api")  # every process shares this limit; over it, the run waits durably
async def summarize(ctx: WorkflowContext, tenant: str, doc: str) -> str:
    global running, peak
    running += 1
    peak = max(peak, running)
    await asyncio.sleep(0.05)  # stands in for the model call
    running -= 1
    return f"summary of {doc} for {tenant}"


@workflow(queue="llm")  # every instance runs in the "llm" queue unless with_options says otherwise
async def summarize_doc(ctx: WorkflowContext, tenant: str, doc: str) -> str:
    return await summarize(ctx, tenant, doc)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(
            f"sqlite:///{Path(tmp) / 'queues.db'}",
            queues=[Queue("llm", concurrency=2, per_key_concurrency=1)],
            rate_limits={"llm-api": RateLimit(100, per=timedelta(seconds=1))},
        ) as app:
            ids = []
            for tenant, docs in (("acme", 4), ("globex", 2)):
                for n in range(docs):
                    start = summarize_doc.with_options(queue_key=tenant)  # fairness and per-key limit
                    ids.append(await start.start(tenant=tenant, doc=f"doc-{n}"))
            urgent = summarize_doc.with_options(queue_key="initech", priority=10)
            ids.append(await urgent.start(tenant="initech", doc="contract"))
            results = [await app.wait_result(i, timeout=30) for i in ids]
            (stats,) = await app.queue_stats()
    print(results[-1])
    print(f"{len(results)} summaries, never more than 2 at once: {peak <= 2}")
    print(
        f"queue {stats.name}: concurrency {stats.concurrency}, depth {stats.depth}, running {stats.running}"
    )
    assert peak <= 2


if __name__ == "__main__":
    asyncio.run(main())
