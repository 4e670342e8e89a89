"""The bundle of per-app collaborators that runs share (no module-level state anywhere)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final, Protocol

from durable_core.authoring.catalog import Catalog
from durable_core.authoring.runtime import WaitSpec
from durable_core.clock import Clock
from durable_core.engine.flow import FlowControl
from durable_core.engine.streams import StreamHub
from durable_core.hooks import HookCaller
from durable_core.observers import Observers
from durable_core.retry import RetryPolicy
from durable_core.serialization import Serializer
from durable_core.storage.base import Storage
from durable_core.types import ClaimedInstance, HistoryEntry, LocalClaim


class LocalWorker(Protocol):
    """What a run or a send asks of this process's own worker (the app's dispatcher).

    One protocol instead of loose callbacks: a local delivery wakes, leases and hands work straight to
    the worker of this process, so it runs here without a round trip through the database.
    """

    def wake(self, instance_ids: Iterable[str]) -> None:
        """These instances became runnable through a local delivery: run them here (if this process runs workers)."""

    def claim_request(self) -> LocalClaim | None:
        """A lease request for work a local send wakes, when this process runs workers and has room."""

    def adopt(self, claimed: ClaimedInstance) -> None:
        """Run an instance that a local send leased to this worker."""

    def parked_wait(self, instance_id: str) -> tuple[int, int, WaitSpec] | None:
        """(epoch, position, spec) of the event/message wait this process parked an instance on, if known."""

    def note_handoff(self, instance_id: str, entry: HistoryEntry) -> None:
        """A local send recorded the end of an instance's wait (so the woken run need not take the message)."""


class NoLocalWorker:
    """A process without a local worker: every local shortcut is declined."""

    def wake(self, instance_ids: Iterable[str]) -> None:
        """Nothing runs here."""

    def claim_request(self) -> LocalClaim | None:
        """Never leases anything here."""
        return None

    def adopt(self, claimed: ClaimedInstance) -> None:
        """Never called (nothing is leased here)."""

    def parked_wait(self, instance_id: str) -> tuple[int, int, WaitSpec] | None:
        """Nothing is parked here."""
        return None

    def note_handoff(self, instance_id: str, entry: HistoryEntry) -> None:
        """Never called (no hand-off without a lease here)."""


NO_LOCAL_WORKER: Final[LocalWorker] = NoLocalWorker()


@dataclass(frozen=True, slots=True)
class EngineServices:
    """Everything a run needs from its app."""

    storage: Storage
    clock: Clock
    serializer: Serializer
    hooks: HookCaller
    catalog: Catalog
    default_retry_policy: RetryPolicy
    worker_id: str
    lease_ttl: timedelta
    #: this process's own worker: local deliveries wake, lease and hand work to it directly
    local: LocalWorker = NO_LOCAL_WORKER
    #: archived runs kept per instance by ``ctx.recur``
    keep_recur_runs: int = 3
    #: the app's code version (``EddaApp(version=...)``), recorded on the instances it starts and runs
    version: Callable[[], str | None] = lambda: None
    #: live followers of output streams (``ctx.stream``), woken when chunks are stored
    streams: StreamHub = field(default_factory=StreamHub)
    #: counts and timings for metrics (``app.observers``); empty unless something attached one
    observers: Observers = field(default_factory=Observers)
    #: queues and named rate limits (``@activity(rate_limit=...)`` takes grants through it)
    flow: FlowControl | None = None
