"""OpenTelemetry hooks produce workflow and activity spans with retries and replays."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from durable_core import Catalog, RetryPolicy, WorkflowContext, activity, workflow
from durable_core.otel import OpenTelemetryHooks


async def test_spans_for_a_workflow_with_a_retry(make_app, catalog: Catalog) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tries = {"n": 0}

    @activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0, max_interval=0))
    async def flaky(ctx: WorkflowContext) -> str:
        tries["n"] += 1
        if tries["n"] == 1:
            raise ConnectionError("once")
        return "ok"

    @workflow(catalog=catalog)
    async def traced(ctx: WorkflowContext) -> str:
        return await flaky(ctx)

    app = await make_app(hooks=OpenTelemetryHooks(tracer_provider=provider))
    iid = await traced.start()
    assert await app.handle(iid).result(timeout=10) == "ok"
    spans = {(s.name, s.status.status_code): s for s in exporter.get_finished_spans()}
    workflow_span = spans["workflow traced", StatusCode.OK]
    failed = spans["activity flaky", StatusCode.ERROR]
    succeeded = spans["activity flaky", StatusCode.OK]
    assert workflow_span.attributes is not None and workflow_span.attributes["edda.instance_id"] == iid
    for span in (failed, succeeded):
        assert span.parent is not None and span.parent.span_id == workflow_span.context.span_id
    assert [e.name for e in failed.events] == ["retry", "exception"]
    provider.shutdown()
