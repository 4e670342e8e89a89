"""Prometheus metrics of one engine: counters and histograms fed by the engine, gauges read from its database.

``metrics_for(app)`` attaches an :class:`EddaMetrics` to an :class:`~durable_core.EddaApp` (once per app:
every later call returns the same one) with a registry of its own, so two apps in one process never
share a counter. ``metrics_app(app)`` is the ``/metrics`` ASGI endpoint; :mod:`edda_mcp.metrics_http`
mounts it in ``EddaMCPServer.asgi_app()``, and the console mounts it too.

Every name, its labels and its meaning are listed in :data:`METRICS` (and in docs/metrics.md; a test
keeps the two in step). Labels are workflow, activity, status and step kind names only -- never
instance ids -- so the number of series stays bounded by the code, not by the traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from durable_core import (
    ConfigurationError,
    DispatcherLoad,
    EddaApp,
    InstanceCount,
    InstanceStatus,
    ObserverBase,
    StepKind,
    StepObservation,
)

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - the extra is part of every test environment
    raise ConfigurationError(
        "edda_mcp.metrics needs prometheus-client: pip install 'edda-mcp[metrics]'"
    ) from exc

__all__ = [
    "DEFAULT_REFRESH_INTERVAL",
    "METRICS",
    "EddaMetrics",
    "MetricsAuthorizer",
    "MetricsEndpoint",
    "metrics_app",
    "metrics_for",
]

#: seconds the database-backed gauges (instances by status, outbox pending) are reused between scrapes
DEFAULT_REFRESH_INTERVAL: Final = 5.0

#: every exported metric family: name -> (type, labels, meaning); docs/metrics.md documents each
METRICS: Final[Mapping[str, tuple[str, tuple[str, ...], str]]] = {
    "edda_workflows_started_total": ("counter", ("workflow",), "instances that started their first run here"),
    "edda_workflows_finished_total": (
        "counter",
        ("workflow", "status"),
        "runs that ended here: completed, failed, cancelled, blocked or outcome_unknown",
    ),
    "edda_step_duration_seconds": (
        "histogram",
        ("workflow", "activity", "kind", "outcome"),
        "time from an activity's first attempt to its end, retry delays included",
    ),
    "edda_step_attempts": ("histogram", ("workflow", "activity", "kind"), "attempts an activity took"),
    "edda_wakeup_latency_seconds": (
        "histogram",
        ("workflow",),
        "from a waiting instance's due wake-up (timer, event) to its claim by this process",
    ),
    "edda_lease_takeovers_total": (
        "counter",
        ("workflow",),
        "instances taken over after their previous owner's lease expired unreleased",
    ),
    "edda_outbox_delivery_failures_total": (
        "counter",
        ("final",),
        "failed outbox delivery attempts; final=true when the row was given up on",
    ),
    "edda_instances": ("gauge", ("workflow", "status"), "stored instances (read from the database, cached)"),
    "edda_outbox_pending": ("gauge", (), "outbox rows not delivered yet (read from the database, cached)"),
    "edda_dispatcher_running": ("gauge", (), "instances this process runs now"),
    "edda_dispatcher_capacity": ("gauge", (), "instances this process may run at once (0: no workers)"),
    "edda_metrics_refresh_errors_total": (
        "counter",
        (),
        "failed database reads of the cached gauges (the previous values are kept)",
    ),
}

_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
_ATTEMPT_BUCKETS: Final = (1, 2, 3, 5, 10, 20, 50)
_LATENCY_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300)

#: checks a scrape request (e.g. its bearer token); False answers 401
MetricsAuthorizer = Callable[[Request], Awaitable[bool]]


def _help(name: str) -> str:
    return METRICS[name][2]


def _labels(name: str) -> tuple[str, ...]:
    return METRICS[name][1]


class EddaMetrics(ObserverBase):
    """The metrics of one app: an engine observer plus a collector of database-backed gauges.

    Args:
        app: the engine to observe (this attaches itself to ``app.observers``).
        refresh_interval: seconds to reuse the instance and outbox counts between scrapes.
    """

    def __init__(self, app: EddaApp, *, refresh_interval: float = DEFAULT_REFRESH_INTERVAL) -> None:
        if refresh_interval < 0:
            raise ConfigurationError(f"refresh_interval must be >= 0 seconds, got {refresh_interval}")
        self.app = app
        self.refresh_interval = refresh_interval
        self.registry = CollectorRegistry()
        self._counts: list[InstanceCount] = []
        self._outbox_pending = 0
        self._refreshed_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._step_children: dict[tuple[str, str, StepKind, bool], tuple[Histogram, Histogram]] = {}
        reg = self.registry
        started, finished = "edda_workflows_started_total", "edda_workflows_finished_total"
        # prometheus-client appends ``_total`` to counters itself
        self._started = Counter(started[:-6], _help(started), _labels(started), registry=reg)
        self._finished = Counter(finished[:-6], _help(finished), _labels(finished), registry=reg)
        name = "edda_step_duration_seconds"
        self._step_seconds = Histogram(
            name, _help(name), _labels(name), registry=reg, buckets=_DURATION_BUCKETS
        )
        name = "edda_step_attempts"
        self._attempts = Histogram(name, _help(name), _labels(name), registry=reg, buckets=_ATTEMPT_BUCKETS)
        name = "edda_wakeup_latency_seconds"
        self._latency = Histogram(name, _help(name), _labels(name), registry=reg, buckets=_LATENCY_BUCKETS)
        name = "edda_lease_takeovers_total"
        self._takeovers = Counter(name[:-6], _help(name), _labels(name), registry=reg)
        name = "edda_outbox_delivery_failures_total"
        self._outbox_failures = Counter(name[:-6], _help(name), _labels(name), registry=reg)
        name = "edda_metrics_refresh_errors_total"
        self._refresh_errors = Counter(name[:-6], _help(name), registry=reg)
        reg.register(_StoredGauges(self))
        app.observers.add(self)

    # -- EngineObserver -------------------------------------------------------------------------------
    def workflow_started(self, workflow: str) -> None:
        """Count a start."""
        self._started.labels(workflow).inc()

    def workflow_finished(self, workflow: str, status: InstanceStatus) -> None:
        """Count an end by status."""
        self._finished.labels(workflow, status.value).inc()

    def step_finished(self, step: StepObservation) -> None:
        """Observe the step's duration and attempts."""
        key = (step.workflow, step.activity, step.kind, step.ok)
        children = self._step_children.get(key)
        if children is None:  # labels() validates and locks on every call: resolve each series once
            kind, outcome = step.kind.value, "ok" if step.ok else "error"
            children = (
                self._step_seconds.labels(step.workflow, step.activity, kind, outcome),
                self._attempts.labels(step.workflow, step.activity, kind),
            )
            self._step_children[key] = children
        children[0].observe(step.seconds)
        children[1].observe(step.attempts)

    def woke_up(self, workflow: str, late_seconds: float) -> None:
        """Observe a wake-up latency."""
        self._latency.labels(workflow).observe(late_seconds)

    def lease_taken_over(self, workflow: str) -> None:
        """Count a takeover."""
        self._takeovers.labels(workflow).inc()

    def outbox_delivery_failed(self, event_type: str, final: bool) -> None:
        """Count a failed delivery (the event type is left out: it is not bounded by the code)."""
        self._outbox_failures.labels("true" if final else "false").inc()

    # -- the database-backed gauges -------------------------------------------------------------------
    async def refresh(self, *, force: bool = False) -> None:
        """Re-read the instance and outbox counts unless they are younger than ``refresh_interval``."""
        async with self._lock:  # concurrent scrapes share one read
            now = self.app.clock.now()
            fresh = self._refreshed_at is not None and (
                (now - self._refreshed_at).total_seconds() < self.refresh_interval
            )
            if fresh and not force:
                return
            try:
                counts = await self.app.count_instances()
                pending = await self.app.count_outbox()
            except Exception:  # a failing database must not fail the scrape of the other metrics
                self._refresh_errors.inc()
                return
            self._counts, self._outbox_pending, self._refreshed_at = counts, pending, now

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (call :meth:`refresh` first for fresh counts)."""
        return generate_latest(self.registry)

    def stored(self) -> tuple[list[InstanceCount], int, DispatcherLoad]:
        """The cached counts, the cached outbox backlog and the live dispatcher load."""
        return self._counts, self._outbox_pending, self.app.dispatcher_load()


class _StoredGauges(Collector):
    """Yields the cached database counts and the dispatcher load at each collection."""

    def __init__(self, metrics: EddaMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        counts, pending, load = self._metrics.stored()
        name = "edda_instances"
        instances = GaugeMetricFamily(name, _help(name), labels=list(_labels(name)))
        for row in counts:
            instances.add_metric([row.workflow_name, row.status.value], row.count)
        yield instances
        for name, value in (
            ("edda_outbox_pending", pending),
            ("edda_dispatcher_running", load.running),
            ("edda_dispatcher_capacity", load.capacity),
        ):
            yield GaugeMetricFamily(name, _help(name), value=value)


def metrics_for(app: EddaApp, *, refresh_interval: float = DEFAULT_REFRESH_INTERVAL) -> EddaMetrics:
    """The :class:`EddaMetrics` of ``app``, attached on first use (later calls return the same one)."""
    existing = app.observers.find(EddaMetrics)
    return existing if existing is not None else EddaMetrics(app, refresh_interval=refresh_interval)


class MetricsEndpoint:
    """The ASGI app :func:`metrics_app` returns (a class, so routers treat it as ASGI, not as a view)."""

    def __init__(self, metrics: EddaMetrics, authorize: MetricsAuthorizer | None) -> None:
        self.metrics = metrics
        self._authorize = authorize

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer one HTTP request; other scope types (a bare mount's lifespan) are ignored."""
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response: Response
        if request.method not in ("GET", "HEAD"):
            response = PlainTextResponse("method not allowed\n", status_code=405, headers={"Allow": "GET"})
        elif self._authorize is not None and not await self._authorize(request):
            response = PlainTextResponse(
                "unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        else:
            await self.metrics.refresh()
            response = Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
        await response(scope, receive, send)


def metrics_app(
    app: EddaApp,
    *,
    authorize: MetricsAuthorizer | None = None,
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
) -> MetricsEndpoint:
    """An ASGI app answering ``GET`` with ``app``'s metrics in the Prometheus text format.

    Mount it in any ASGI host (Starlette ``Mount("/metrics", app=metrics_app(engine))``); it answers at
    whatever path it is mounted. The engine must run in the same event loop.

    Args:
        app: the engine whose metrics are served.
        authorize: checks each request (e.g. its bearer token); refused requests get 401.
        refresh_interval: seconds the database-backed gauges are reused (the first call per app sets it).
    """
    return MetricsEndpoint(metrics_for(app, refresh_interval=refresh_interval), authorize)
