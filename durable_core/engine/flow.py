"""The engine side of flow control: queues, named rate limits, debounce and singleton starts.

One :class:`FlowControl` per app. It syncs the app's queues and rate limits to the database at
start-up, places new instances in their queue, claims queued work for the dispatcher (each claim is one
database transaction that honours the queue's limits across processes), and holds an activity back
*durably* when its named rate limit has no grant free: the run parks with a timer for the moment the
next grant is free, so it neither fails nor holds a worker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from durable_core.clock import Clock
from durable_core.errors import ConfigurationError
from durable_core.flow import FlowOptions, OnConflict, Queue, QueueStats, RateLimit
from durable_core.signals import SuspendSignal
from durable_core.storage.base import Storage
from durable_core.storage.flow import FlowStart, QueueRow
from durable_core.types import ClaimedInstance, NewInstance
from durable_core.validation import MAX_NAME_LENGTH, check_identifier

__all__ = ["RATE_HORIZON", "FlowControl", "QueueBatch"]

#: how far ahead a claim may take rate-limit grants (each run then starts at its granted time); the
#: claimer comes back three quarters of it before the next grant, so a claim delayed that long (a busy
#: database or event loop) costs nothing. At most a quarter of the lease TTL.
RATE_HORIZON: Final = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class QueueBatch:
    """What the dispatcher's queue claim leased, and when to claim again for a rate-limited start."""

    claimed: list[ClaimedInstance]
    retry_at: datetime | None
    start_at: dict[str, datetime]


class FlowControl:
    """Queues and rate limits of one app (configuration plus the database statements that enforce them).

    Args:
        storage: the app's storage.
        clock: the app's clock (rate limits and debounce windows are measured on it).
        queues: the queues runs may be started in.
        rate_limits: named limits for ``@activity(rate_limit=name)``.

    Raises:
        ConfigurationError: two queues share a name, or a limit is not a :class:`RateLimit`.
    """

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        queues: Iterable[Queue] = (),
        rate_limits: Mapping[str, RateLimit] | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._queues: dict[str, Queue] = {}
        for queue in queues:
            if not isinstance(queue, Queue):
                raise ConfigurationError(f"queues must be Queue objects, got {queue!r}")
            if queue.name in self._queues:
                raise ConfigurationError(f"two queues are named {queue.name!r}")
            self._queues[queue.name] = queue
        self._rates: dict[str, RateLimit] = {}
        for name, limit in (rate_limits or {}).items():
            check_identifier("rate limit name", name, limit=MAX_NAME_LENGTH)
            if not isinstance(limit, RateLimit):
                raise ConfigurationError(f"rate limit {name!r} must be a RateLimit, got {limit!r}")
            self._rates[name] = limit

    @property
    def has_queues(self) -> bool:
        """Whether this app claims queued work at all."""
        return bool(self._queues)

    async def sync(self) -> None:
        """Store this app's queue settings and rate-limit rows (the last process to start wins)."""
        flow = self._storage.flow()
        now = self._clock.now()
        for q in self._queues.values():
            row = QueueRow(q.name, q.concurrency, q.per_key_concurrency, q.rate_limit, q.priority)
            await flow.sync_queue(row, now)
        for name in self._rates:
            await flow.sync_rate_limit(name)

    # -- starting ------------------------------------------------------------------------------
    def place(self, new: NewInstance, default_queue: str | None, options: FlowOptions | None) -> NewInstance:
        """``new`` with its queue placement (``with_options(queue=...)`` over ``@workflow(queue=...)``).

        Raises:
            ConfigurationError: the queue is not one of this app's queues.
        """
        opts = options or FlowOptions()
        name = opts.queue or default_queue
        if name is None:
            if opts.queue_key is not None or opts.priority:
                raise ConfigurationError("queue_key and priority need a queue (with_options(queue=...))")
            return new
        if name not in self._queues:
            known = ", ".join(sorted(self._queues)) or "none"
            raise ConfigurationError(
                f"queue {name!r} is not configured on this app (EddaApp(queues=[...]); known: {known})"
            )
        priority = opts.priority if self._queues[name].priority else 0
        return replace(new, queue=(name, opts.queue_key, priority))

    async def keyed_start(self, new: NewInstance, options: FlowOptions | None) -> FlowStart | None:
        """Store a debounced or singleton start (None: the start has no such key)."""
        if options is None:
            return None
        flow = self._storage.flow()
        if options.debounce_key is not None and options.debounce is not None:
            return await flow.debounce(new, options.debounce_key, new.now + options.debounce)
        if options.singleton_key is not None:
            queue = options.on_conflict is OnConflict.QUEUE
            return await flow.singleton(new, options.singleton_key, queue=queue)
        return None

    # -- claiming ------------------------------------------------------------------------------
    async def claim(
        self, owner: str, lease_ttl: timedelta, free: int, workflow_names: frozenset[str]
    ) -> QueueBatch:
        """Claim queued work for up to ``free`` slots of this process, queue by queue (name order)."""
        claimed: list[ClaimedInstance] = []
        retry_at: datetime | None = None
        start_at: dict[str, datetime] = {}
        flow = self._storage.flow()
        horizon = min(RATE_HORIZON, lease_ttl / 4)  # runs granted ahead wait locally, still leased
        for name in sorted(self._queues):
            if len(claimed) >= free:
                break
            batch = await flow.claim(
                name, owner, self._clock.now, lease_ttl, free - len(claimed), workflow_names, horizon
            )
            claimed.extend(batch.claimed)
            start_at.update(batch.start_at)
            if batch.retry_at is not None and (retry_at is None or batch.retry_at < retry_at):
                retry_at = batch.retry_at
        return QueueBatch(claimed, retry_at, start_at)

    # -- activity rate limits ------------------------------------------------------------------
    async def take(self, name: str, lease_ttl: timedelta) -> None:
        """Take a grant of the named rate limit, or park the run until one is free (durably).

        A grant may be for a moment up to a short horizon ahead (at most ``lease_ttl / 4``): the run
        then waits here, still holding its lease, and goes at its granted time. That way runs woken
        together take a batch of grants instead of one each, and the limiter's rate does not depend
        on how promptly parked runs wake up.

        Raises:
            SuspendSignal: no grant is free within the horizon; the run parks with a timer for a
                moment shortly before the next one.
            ConfigurationError: no rate limit of that name is configured on this app.
        """
        limit = self._rates.get(name)
        if limit is None:
            known = ", ".join(sorted(self._rates)) or "none"
            raise ConfigurationError(
                f"rate limit {name!r} is not configured on this app (EddaApp(rate_limits={{...}}); known: {known})"
            )
        grant = await self._storage.flow().take(
            name, limit, self._clock.now, min(RATE_HORIZON, lease_ttl / 4)
        )
        if not grant.granted:
            raise SuspendSignal(grant.retry_at)
        wait = (grant.times[0] - self._clock.now()).total_seconds()
        if wait > 0:
            await self._clock.sleep(wait)

    # -- reading -------------------------------------------------------------------------------
    def rate_limit(self, name: str) -> RateLimit | None:
        """The named rate limit as this app configures it (None: not configured here)."""
        return self._rates.get(name)

    async def stats(self) -> list[QueueStats]:
        """Every stored queue with its depth, executing runs and per-key backlog."""
        return await self._storage.flow().stats(self._clock.now())
