"""The bundle of per-app collaborators that runs share (no module-level state anywhere)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from durable_core.authoring.catalog import Catalog
from durable_core.authoring.runtime import WaitSpec
from durable_core.clock import Clock
from durable_core.hooks import HookCaller
from durable_core.retry import RetryPolicy
from durable_core.serialization import Serializer
from durable_core.storage.base import Storage
from durable_core.storage.messaging import LocalClaim
from durable_core.types import ClaimedInstance, HistoryEntry


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
    #: tell this process's dispatcher that these instances became runnable (a local delivery woke them)
    wake: Callable[[Iterable[str]], None] = lambda _ids: None
    #: archived runs kept per instance by ``ctx.recur``
    keep_recur_runs: int = 3
    #: a lease request for work a local send wakes, when this process runs workers and has room (else None)
    local_claim: Callable[[], LocalClaim | None] = lambda: None
    #: run an instance that a local send leased to this worker
    adopt: Callable[[ClaimedInstance], None] = lambda _claimed: None
    #: (epoch, position, spec) of the event/message wait this process parked an instance on, if known
    parked_wait: Callable[[str], tuple[int, int, WaitSpec] | None] = lambda _iid: None
    #: a local send recorded the end of an instance's wait (so the woken run need not take the message)
    note_handoff: Callable[[str, HistoryEntry], None] = lambda _iid, _entry: None
