"""The bundle of per-app collaborators that runs share (no module-level state anywhere)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from durable_core.authoring.catalog import Catalog
from durable_core.clock import Clock
from durable_core.hooks import HookCaller
from durable_core.retry import RetryPolicy
from durable_core.serialization import Serializer
from durable_core.storage.base import Storage


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
