"""The one narrow storage interface the engine talks to.

Every time value is passed in by the caller (the engine owns the clock), so storage never reads wall
time and tests can skip time. Every write the runner makes is *fenced*: it takes the :class:`Lease`
and succeeds only while the stored lease epoch still equals ``lease.epoch``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from durable_core.observers import InstanceCount
from durable_core.types import (
    AttemptState,
    Backend,
    CancelOutcome,
    ClaimedInstance,
    CreateResult,
    DeliveryResult,
    ErrorInfo,
    FinishRequest,
    Handoff,
    HistoryEntry,
    InstanceProgress,
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
    JsonValue,
    Lease,
    LocalClaim,
    NewInstance,
    OutboxEvent,
    OutboxOutcome,
    OutboxRecord,
    OutboxStatus,
    OutgoingMessage,
    ParkOutcome,
    Payload,
    RecordOutcome,
    StoredMessage,
    SubscriptionMode,
    WaitInfo,
    WaitKey,
    WaitRegistration,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from durable_core.storage.flow import SqlFlow
    from durable_core.storage.operator_queries import SqlOperatorQueries
    from durable_core.storage.run_control import SqlRunControl
    from durable_core.storage.schedules import SqlSchedules
    from durable_core.storage.streams import StreamStore


@dataclass(frozen=True, slots=True)
class LeaseRenewal:
    """Result of a batched lease renewal.

    Attributes:
        held: ids whose lease this owner still holds (now extended).
        cancel_requested: subset of ``held`` whose cancellation was requested meanwhile.
        paused: subset of ``held`` that an operator paused (``app.pause``): stop at the next step.
    """

    held: frozenset[str]
    cancel_requested: frozenset[str]
    paused: frozenset[str] = frozenset()


class WakeListener(Protocol):
    """Receives wake-ups committed by other processes (see ``Storage.wake_listener``)."""

    def start(self) -> None:
        """Start listening in the background."""

    async def stop(self) -> None:
        """Stop listening."""


class UserTransaction(abc.ABC):
    """An open database transaction that an activity writes user rows into via ``session``.

    The history entry of the activity is written into the same transaction by
    :meth:`Storage.record_step` (``tx=``), which also commits it.
    """

    @property
    @abc.abstractmethod
    def session(self) -> AsyncSession:
        """The SQLAlchemy ``AsyncSession`` bound to this transaction's connection."""

    @property
    def used(self) -> bool:
        """Whether ``session`` was accessed (only then must the step be recorded through it)."""
        return True

    async def close(self) -> None:  # noqa: B027 - optional override; the default holds nothing
        """Roll back unless committed, and return the connection. Idempotent."""


class LivenessStore(abc.ABC):
    """Heartbeat rows of worker processes (see :mod:`durable_core.storage.liveness`).

    Unlike the rest of storage, these decisions use the *database's* clock, not a time passed in:
    they compare times written by different hosts, whose clocks may be skewed.
    """

    @abc.abstractmethod
    async def register(self, worker_id: str, ttl: timedelta) -> None:
        """Record a new worker, alive for ``ttl``."""

    @abc.abstractmethod
    async def beat(self, worker_id: str, ttl: timedelta) -> bool:
        """Keep the worker alive for ``ttl`` more; False if it had already been declared dead."""

    @abc.abstractmethod
    async def revive(self, worker_id: str, ttl: timedelta) -> int:
        """Free every lease of the worker (whose runs stopped), then make it alive again; leases freed."""

    @abc.abstractmethod
    async def retire(self, worker_id: str) -> None:
        """Declare the worker dead now (clean shutdown)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection."""


class Messaging(abc.ABC):
    """Events, channel messages, waits, subscriptions, child links and recur archives of a database.

    Every method is one transaction. Sends and waits are ordered so that no wake-up is lost: a message
    and a wait being registered for the same key always see each other (see
    :mod:`durable_core.storage.messaging` for how the SQL implementation does it).
    """

    @abc.abstractmethod
    async def deliver(
        self,
        message: OutgoingMessage,
        now: datetime,
        *,
        record: tuple[Lease, HistoryEntry] | None = None,
        claim_for: LocalClaim | None = None,
        handoff: Handoff | None = None,
    ) -> DeliveryResult:
        """Store ``message`` for its receivers and make the waiting ones runnable, in one transaction.

        Args:
            message: what to send, to whom.
            now: the engine clock's time (``created_at`` and the wake-up time).
            record: a workflow's journaled send: also record this history entry (fenced), atomically.
            claim_for: lease an addressed message's woken target to this worker in the same transaction.
            handoff: with ``claim_for``: record the end of the target's wait instead of storing the message.

        Raises:
            InstanceNotFoundError: the message names a target instance that does not exist.
        """

    @abc.abstractmethod
    async def announce(self, instance_ids: Sequence[str]) -> None:
        """Tell other processes these instances are runnable (a no-op where the database cannot)."""

    @abc.abstractmethod
    async def park(
        self, lease: Lease, wait: WaitRegistration, now: datetime, frontier: int | None = None
    ) -> ParkOutcome:
        """Store the instance as WAITING for ``wait`` and release its lease, unless it need not wait.

        ``frontier``: how many history positions the code had taken (kept for ``ctx.patched``).
        """

    @abc.abstractmethod
    async def take(
        self,
        lease: Lease,
        keys: Sequence[WaitKey],
        build_entry: Callable[[StoredMessage], HistoryEntry],
        retain: Sequence[WaitKey] = (),
        sent_by: datetime | None = None,
    ) -> tuple[RecordOutcome, HistoryEntry | None]:
        """Take the oldest message for ``keys`` and record it (``build_entry``), in one fenced transaction."""

    @abc.abstractmethod
    async def end_wait(
        self, lease: Lease, entry: HistoryEntry, retain: Sequence[WaitKey] = ()
    ) -> RecordOutcome:
        """Record a wait that ended without a message (timeout) and drop its wait rows, fenced."""

    @abc.abstractmethod
    async def get_wait(self, instance_id: str) -> WaitInfo | None:
        """What a WAITING instance waits for; None when it is not waiting."""

    @abc.abstractmethod
    async def subscribe(self, instance_id: str, channel: str, mode: SubscriptionMode, now: datetime) -> None:
        """Subscribe (or change the mode of) ``instance_id`` to ``channel``; idempotent."""

    @abc.abstractmethod
    async def unsubscribe(self, instance_id: str, channel: str) -> bool:
        """Remove a subscription; False if there was none."""

    @abc.abstractmethod
    async def finish_child(
        self, lease: Lease, request: FinishRequest, now: datetime, parent_id: str, meta: dict[str, JsonValue]
    ) -> tuple[bool, tuple[str, ...]]:
        """Finish a child instance and deliver its end to the parent's mailbox, in one transaction."""

    @abc.abstractmethod
    async def recur(
        self, lease: Lease, new_input: Payload, input_hash: str, now: datetime, keep_runs: int
    ) -> bool:
        """Start the next run of an instance atomically (archive and clear its history, store the input)."""


class StatsStore(abc.ABC):
    """Counts for operators (metrics, console, CLI); one aggregate statement each, cached by callers."""

    @abc.abstractmethod
    async def count_instances(self) -> list[InstanceCount]:
        """Stored instances per (workflow, status); groups with no instance are omitted."""

    @abc.abstractmethod
    async def count_outbox(self, status: OutboxStatus) -> int:
        """Outbox rows in ``status``."""


class OutboxStore(abc.ABC):
    """The transactional outbox: rows written in an activity's transaction, claimed by relayers."""

    @abc.abstractmethod
    async def add_in(self, tx: UserTransaction, event: OutboxEvent) -> None:
        """Insert ``event`` inside ``tx``: it commits with the activity's history entry or not at all."""

    @abc.abstractmethod
    async def claim(
        self, owner: str, now: datetime, visibility_timeout: timedelta, limit: int, max_attempts: int
    ) -> list[OutboxRecord]:
        """Claim up to ``limit`` due pending rows for ``owner`` (a token unique to this claim)."""

    @abc.abstractmethod
    async def record_outcomes(self, owner: str, outcomes: Sequence[OutboxOutcome], now: datetime) -> int:
        """Store the outcome of each claimed row (fenced on ``owner``); return how many were stored."""

    @abc.abstractmethod
    async def list_rows(
        self,
        status: OutboxStatus | None = None,
        limit: int = 100,
        after: tuple[datetime, str] | None = None,
    ) -> list[OutboxRecord]:
        """Rows (with ``status`` when given), oldest first, after the keyset cursor ``after``."""

    @abc.abstractmethod
    async def purge_sent(self, created_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` SENT rows created before the cut-off; return how many."""


class EvolutionStore(abc.ABC):
    """Which code version ran an instance last (``EddaApp(version=...)``)."""

    @abc.abstractmethod
    async def note_run_version(self, lease: Lease, version: str | None, now: datetime) -> bool:
        """Record that the worker holding ``lease`` runs the instance with ``version`` (fenced)."""


class Storage(abc.ABC):
    """Abstract storage. One SQL implementation serves SQLite, PostgreSQL and MySQL."""

    dialect_name: Backend

    # -- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    async def initialize(self, *, auto_migrate: bool = True) -> None:
        """Connect, verify the database answers, and apply pending migrations under a lock."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Dispose of connections. Idempotent."""

    @abc.abstractmethod
    async def migrate(self) -> list[int]:
        """Apply pending migrations under a database lock; return the versions applied now."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""

    @abc.abstractmethod
    def migration_sql(self) -> str:
        """The full DDL of every migration for this dialect, for teams that manage schema themselves."""

    # -- instances -------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_instance(self, new: NewInstance) -> CreateResult:
        """Insert a PENDING instance; if the id exists, return the stored one with ``created=False``.

        With ``new.lease_owner`` set, the instance is created RUNNING and already leased to that owner
        (epoch 1), so a local start needs no separate claim.
        """

    @abc.abstractmethod
    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """One instance, or None."""

    @abc.abstractmethod
    async def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        """Instances matching ``query``, newest first, at most ``query.limit``."""

    @abc.abstractmethod
    async def load_history(self, instance_id: str) -> list[HistoryEntry]:
        """All history entries of an instance, ordered by position, in one query."""

    @abc.abstractmethod
    async def get_entry(self, instance_id: str, position: int) -> HistoryEntry | None:
        """One history entry (used to adopt an entry someone else recorded)."""

    @abc.abstractmethod
    async def get_progress(self, instance_id: str) -> InstanceProgress:
        """Number of recorded steps (internal now/uuid/random values excluded) and the last one's name."""

    @abc.abstractmethod
    async def load_attempts(self, instance_id: str) -> dict[int, AttemptState]:
        """Durable attempt counters by position."""

    # -- leases ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def claim_instance(
        self,
        instance_id: str,
        owner: str,
        now: datetime,
        lease_ttl: timedelta,
        workflow_names: frozenset[str] | None = None,
    ) -> ClaimedInstance | None:
        """Claim one instance if it is runnable and its lease is free or expired.

        With ``workflow_names``, only an instance of one of those workflows is claimed.

        Runnable: status PENDING/RUNNING/COMPENSATING, or WAITING with ``wake_at <= now``, or any
        unfinished, non-blocked status with ``cancel_requested``. Claiming bumps the epoch, sets
        ``lease_owner``/``lease_expires_at``, turns PENDING/WAITING into RUNNING, and when the previous
        lease had an owner (it expired without release) increments ``crash_count`` and reports
        ``took_over_crashed``.
        """

    async def claim_these(
        self,
        instance_ids: Sequence[str],
        owner: str,
        now: datetime,
        lease_ttl: timedelta,
        workflow_names: frozenset[str],
    ) -> list[ClaimedInstance]:
        """Claim those of ``instance_ids`` (of these workflows) that are runnable now; skip the rest."""
        claimed = []
        for instance_id in instance_ids:
            one = await self.claim_instance(instance_id, owner, now, lease_ttl, workflow_names)
            if one is not None:
                claimed.append(one)
        return claimed

    @abc.abstractmethod
    async def claim_runnable(
        self,
        owner: str,
        now: datetime,
        lease_ttl: timedelta,
        limit: int,
        workflow_names: frozenset[str],
    ) -> list[ClaimedInstance]:
        """Claim up to ``limit`` runnable instances of the given workflows (SKIP LOCKED where possible)."""

    @abc.abstractmethod
    async def renew_leases(
        self, owner: str, instance_ids: Sequence[str], now: datetime, lease_ttl: timedelta
    ) -> LeaseRenewal:
        """Extend every listed lease this owner still holds, in one statement."""

    @abc.abstractmethod
    async def release_lease(self, lease: Lease) -> bool:
        """Give the lease up (fenced) so any worker may claim the instance at once."""

    @abc.abstractmethod
    async def lease_owners(self) -> list[str]:
        """Distinct owners currently holding leases (bounded)."""

    @abc.abstractmethod
    async def expire_leases_of(self, owners: Sequence[str], now: datetime) -> int:
        """Mark every lease of these (known dead) owners as expired; return how many."""

    # -- recording (fenced) ------------------------------------------------------------------
    @abc.abstractmethod
    async def record_step(
        self, lease: Lease, entry: HistoryEntry, *, tx: UserTransaction | None = None
    ) -> RecordOutcome:
        """Insert ``entry`` in one transaction (``tx``'s, when given, which is then committed).

        Returns LEASE_LOST (nothing written) when the epoch moved on, CONFLICT (nothing written) when
        the position is already recorded.
        """

    @abc.abstractmethod
    async def record_attempt(
        self, lease: Lease, position: int, attempts: int, last_error: ErrorInfo | None
    ) -> RecordOutcome:
        """Upsert the durable attempt counter of a step (fenced)."""

    @abc.abstractmethod
    async def set_status(self, lease: Lease, status: InstanceStatus, now: datetime) -> bool:
        """Change the status of an instance this lease holds (fenced); False if the lease is lost."""

    @abc.abstractmethod
    async def finish(self, lease: Lease, request: FinishRequest, now: datetime) -> bool:
        """Write the final (or BLOCKED) state and release the lease, fenced. False if the lease is lost."""

    @abc.abstractmethod
    async def park(self, lease: Lease, wake_at: datetime, now: datetime, frontier: int | None = None) -> bool:
        """Store the instance as WAITING until ``wake_at`` and release the lease, in one fenced statement.

        If a cancellation was requested meanwhile, ``wake_at`` becomes ``now`` so it runs again at once.
        False (nothing written) if the lease is lost. ``frontier``: how many history positions the code
        had taken (kept for ``ctx.patched``; None keeps the stored value).
        """

    @abc.abstractmethod
    def user_transaction(self) -> AbstractAsyncContextManager[UserTransaction]:
        """Open a transaction for an activity's ``ctx.session``; rolled back unless ``record_step`` commits it."""

    def begin_user_transaction(self) -> UserTransaction:
        """Create a lazy user transaction: no connection is taken until ``session`` is first used.

        The caller must ``await tx.close()``. Used by the engine for every activity attempt, so an
        activity that never touches ``ctx.session`` costs nothing extra.
        """
        raise NotImplementedError

    @abc.abstractmethod
    async def next_wake_at(self, workflow_names: frozenset[str]) -> datetime | None:
        """The earliest ``wake_at`` of WAITING instances of these workflows (indexed), or None."""

    # -- control -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def request_cancel(
        self, instance_id: str, reason: str, cancelled_by: str, now: datetime
    ) -> CancelOutcome:
        """Flag an unfinished instance for cancellation and make it runnable (wake_at = now)."""

    @abc.abstractmethod
    async def resume_blocked(self, instance_id: str, now: datetime) -> bool:
        """Turn a BLOCKED instance back into RUNNING (runnable); False if it was not blocked."""

    @abc.abstractmethod
    async def answer_unknown_outcome(
        self, instance_id: str, answer: ErrorInfo, now: datetime
    ) -> InstanceStatus:
        """Store an operator's answer for an OUTCOME_UNKNOWN instance and make it runnable, atomically.

        Returns:
            The status the instance had; nothing is written unless it was OUTCOME_UNKNOWN.

        Raises:
            InstanceNotFoundError: no such instance.
        """

    @abc.abstractmethod
    async def purge_finished(
        self, finished_before: datetime, limit: int, statuses: frozenset[InstanceStatus] | None = None
    ) -> int:
        """Delete up to ``limit`` finished instances (and their history) older than the cut-off.

        ``statuses``: only instances in these (finished) statuses; None: every finished status.
        """

    def stats(self) -> StatsStore:
        """Counts over this database for operators."""
        raise NotImplementedError(f"{type(self).__name__} has no operator counts")

    # -- transactional outbox ----------------------------------------------------------------------
    def outbox(self) -> OutboxStore:
        """The outbox rows of this database (written by activities, delivered by the relayer)."""
        raise NotImplementedError(f"{type(self).__name__} has no transactional outbox")

    def flow(self) -> SqlFlow:
        """Queue claims, shared rate limits, debounce and singleton keys (see ``storage/flow.py``)."""
        raise NotImplementedError(f"{type(self).__name__} has no flow control")

    def operator_queries(self) -> SqlOperatorQueries:
        """Look-ups for operators (console, CLI) and the operator action journal."""
        raise NotImplementedError(f"{type(self).__name__} has no operator queries")

    # -- events, channels, waits -------------------------------------------------------------------
    def evolution(self) -> EvolutionStore:
        """Code-version bookkeeping (see :class:`EvolutionStore`)."""
        raise NotImplementedError("this storage keeps no code versions")

    def messaging(self) -> Messaging:
        """Mailboxes, channel queues, waits, subscriptions, child links and recur archives."""
        raise NotImplementedError(f"{type(self).__name__} has no messaging")

    def streams(self) -> StreamStore:
        """Chunks of durable output streams (``ctx.stream``)."""
        raise NotImplementedError(f"{type(self).__name__} has no output streams")

    def schedules(self) -> SqlSchedules:
        """Schedules and the firing of their ticks (see :mod:`durable_core.storage.schedules`)."""
        raise NotImplementedError(f"{type(self).__name__} has no schedules")

    def run_control(self) -> SqlRunControl:
        """Retry, fork, pause/unpause, terminate and their journal (:mod:`durable_core.storage.run_control`)."""
        raise NotImplementedError(f"{type(self).__name__} has no run control")

    def liveness_factory(self) -> Callable[[], LivenessStore] | None:
        """Builds a heartbeat store on its own connection (call it in the loop that will use it).

        None when the database serves a single process (in-memory SQLite): leases suffice there.
        """
        return None

    def wake_listener(
        self, on_ids: Callable[[list[str]], None], on_connected: Callable[[], None]
    ) -> WakeListener | None:
        """A listener for instances made runnable by other processes, or None (fallback poll only).

        Args:
            on_ids: called with the ids of instances another process made runnable.
            on_connected: called after each (re)connect (poll once for what may have been missed).
        """
        return None
