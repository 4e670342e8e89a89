"""OpenTelemetry tracing for workflows and activities, as a :class:`~durable_core.hooks.WorkflowHooks`.

Install the extra: ``pip install 'edda-mcp[opentelemetry]'``. Then::

    app = EddaApp(db_url, hooks=OpenTelemetryHooks())

An instance's first run is a span ``workflow <name>``; each live activity attempt is a child span
``activity <name>``; replayed activities (served from history) are events on the workflow span, and a
retried attempt's span ends with a ``retry`` event. Every span carries ``edda.instance_id``, which ties
together the spans of an instance resumed by another process (those activity spans have no parent).
"""

from __future__ import annotations

from typing import Any

try:
    from opentelemetry import trace
    from opentelemetry.trace import Span, Status, StatusCode, Tracer, TracerProvider
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("durable_core.otel needs OpenTelemetry: pip install 'edda-mcp[opentelemetry]'") from exc

_SCOPE = "durable_core"


class OpenTelemetryHooks:
    """Hooks that emit OpenTelemetry spans.

    Args:
        tracer_provider: where spans go (default: the globally configured provider).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._tracer: Tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        self._workflows: dict[str, Span] = {}
        self._activities: dict[tuple[str, str], Span] = {}

    def _workflow_span(self, instance_id: str, workflow_name: str) -> Span:
        span = self._workflows.get(instance_id)
        if span is None:
            span = self._tracer.start_span(
                f"workflow {workflow_name}",
                attributes={"edda.instance_id": instance_id, "edda.workflow": workflow_name},
            )
            self._workflows[instance_id] = span
        return span

    def _end_workflow(self, instance_id: str, status: Status, error: Exception | None = None) -> None:
        span = self._workflows.pop(instance_id, None)
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
        span.set_status(status)
        span.end()

    async def on_workflow_start(
        self, instance_id: str, workflow_name: str, input_data: dict[str, Any]
    ) -> None:
        """Open the run's span."""
        self._workflow_span(instance_id, workflow_name)

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        """Close the run's span as OK."""
        self._end_workflow(instance_id, Status(StatusCode.OK))

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        """Close the run's span as an error."""
        self._end_workflow(instance_id, Status(StatusCode.ERROR, str(error)), error)

    async def on_workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
        """Close the run's span, marked cancelled."""
        span = self._workflows.get(instance_id)
        if span is not None:
            span.set_attribute("edda.cancelled", True)
        self._end_workflow(instance_id, Status(StatusCode.OK))

    async def on_activity_start(
        self, instance_id: str, activity_id: str, activity_name: str, is_replaying: bool
    ) -> None:
        """Open a span for a live attempt (replays become events on completion)."""
        if is_replaying:
            return
        parent = self._workflows.get(instance_id)
        context = trace.set_span_in_context(parent) if parent is not None else None
        self._activities[instance_id, activity_id] = self._tracer.start_span(
            f"activity {activity_name}",
            context=context,
            attributes={"edda.instance_id": instance_id, "edda.activity_id": activity_id},
        )

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """Close the attempt's span, or note a replayed activity on the run's span."""
        if cache_hit:
            parent = self._workflows.get(instance_id)
            if parent is not None:
                parent.add_event("activity replayed", {"edda.activity_id": activity_id})
            return
        span = self._activities.pop((instance_id, activity_id), None)
        if span is not None:
            span.set_status(Status(StatusCode.OK))
            span.end()

    async def on_activity_failed(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception
    ) -> None:
        """Close the attempt's span as an error."""
        span = self._activities.pop((instance_id, activity_id), None)
        if span is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
            span.end()

    async def on_activity_retry(
        self,
        instance_id: str,
        activity_id: str,
        activity_name: str,
        error: Exception,
        attempt: int,
        delay: float,
    ) -> None:
        """Close the failed attempt's span with a retry event (the next attempt opens a new span)."""
        span = self._activities.pop((instance_id, activity_id), None)
        if span is not None:
            span.add_event("retry", {"edda.attempt": attempt, "edda.delay_seconds": delay})
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
            span.end()
