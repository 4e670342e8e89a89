"""Prometheus metrics of an engine: mount ``metrics_app(app)`` in any ASGI app and scrape it.

Runs a workflow whose first activity attempt fails, then scrapes ``/metrics`` once (in process, through
httpx's ASGI transport; under uvicorn it is the same app) and prints a few of the samples.
"""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from durable_core import EddaApp, RetryPolicy, WorkflowContext, activity, workflow
from edda_mcp.metrics import metrics_app


@activity(retry_policy=RetryPolicy(initial_interval=0.01, jitter=0))
async def charge(ctx: WorkflowContext, order_id: str) -> str:
    if ctx.attempt == 1:
        raise ConnectionError("payment service timed out")  # retried
    return f"PAY-{order_id}"


@workflow
async def checkout(ctx: WorkflowContext, order_id: str) -> str:
    return await charge(ctx, order_id)


async def main() -> None:
    async with EddaApp("sqlite:///metrics-demo.db", max_concurrent_runs=20) as app:
        web = Starlette(routes=[Route("/metrics", metrics_app(app))])
        await app.wait_result(await checkout.start(order_id="A-1"), timeout=10)

        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            text = (await client.get("/metrics")).text

    wanted = {
        "edda_workflows_finished_total",
        "edda_step_attempts_sum",
        "edda_instances",
        "edda_dispatcher_capacity",
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                print(f"{sample.name}{{{labels}}} {sample.value:g}")


if __name__ == "__main__":
    asyncio.run(main())
