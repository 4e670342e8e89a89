"""Tracing workflows with OpenTelemetry: spans for the workflow run and each activity attempt."""

import asyncio
import tempfile
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from durable_core import EddaApp, WorkflowContext, activity, workflow
from durable_core.otel import OpenTelemetryHooks


@activity
async def fetch_rate(ctx: WorkflowContext, currency: str) -> float:
    return {"EUR": 1.08, "NOK": 0.094}[currency]


@workflow
async def convert(ctx: WorkflowContext, amount: float, currency: str) -> float:
    return round(amount * await fetch_rate(ctx, currency), 2)


async def main() -> None:
    exporter = InMemorySpanExporter()  # in production: an OTLP exporter
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tempfile.TemporaryDirectory() as tmp:
        hooks = OpenTelemetryHooks(tracer_provider=provider)
        async with EddaApp(f"sqlite:///{Path(tmp) / 'otel.db'}", hooks=hooks):
            print("result:", await convert.start_and_wait(amount=100.0, currency="EUR"))
    for span in exporter.get_finished_spans():
        parent = "child of workflow" if span.parent is not None else "root"
        print(f"span {span.name!r} ({parent})")
    assert [s.name for s in exporter.get_finished_spans()] == ["activity fetch_rate", "workflow convert"]


if __name__ == "__main__":
    asyncio.run(main())
