"""``SqlStorage``: the one SQL implementation of :class:`Storage` for SQLite, PostgreSQL and MySQL.

Queries are written once with SQLAlchemy Core; what differs per database lives in
:mod:`durable_core.storage.dialects`. Hot path: :meth:`SqlStorage.record_step` is one fenced
``INSERT ... SELECT`` and a commit.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.sql.selectable import Select

from durable_core.errors import (
    InstanceNotFoundError,
)
from durable_core.storage import hot_statements as hot
from durable_core.storage import leases, purge, records, stats, unknown_outcomes
from durable_core.storage.base import LeaseRenewal, LivenessStore, Storage, UserTransaction, WakeListener
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dialects import dialect_for
from durable_core.storage.evolution import SqlEvolution
from durable_core.storage.flow import SqlFlow
from durable_core.storage.liveness import SqlLiveness
from durable_core.storage.messaging import SqlMessaging
from durable_core.storage.operator_queries import OperatorQueriesSource
from durable_core.storage.outbox import SqlOutboxStorage
from durable_core.storage.queries import list_instances_select
from durable_core.storage.run_control import SqlRunControl
from durable_core.storage.schedules import SqlSchedules
from durable_core.storage.schema import ATTEMPTS, HISTORY, INSTANCES
from durable_core.storage.sql_lifecycle import SqlLifecycle
from durable_core.storage.streams import SqlStreamStore
from durable_core.storage.urls import (
    backend_of,
    is_memory_sqlite,
    mask_url,
    normalize_url,
    resolve_sqlite_synchronous,
)
from durable_core.storage.writer import DuplicateKey
from durable_core.types import (
    USER_STEP_KINDS,
    AttemptState,
    CancelOutcome,
    ClaimedInstance,
    CreateResult,
    ErrorInfo,
    FinishRequest,
    HistoryEntry,
    InstanceProgress,
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
    Lease,
    NewInstance,
    RecordOutcome,
    SqliteSynchronous,
)

__all__ = ["SqlStorage"]

_I = INSTANCES.c
_H = HISTORY.c
_A = ATTEMPTS.c
ID_CHUNK: Final = 500
LEASE_OWNERS_LIMIT: Final = 1000


def _chunks(items: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(items))
    return [unique[i : i + ID_CHUNK] for i in range(0, len(unique), ID_CHUNK)]


def _positive(name: str, value: int) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


class SqlStorage(SqlLifecycle, OperatorQueriesSource, Storage):
    """Storage on SQLAlchemy Core: SQLite (file or ``:memory:``), PostgreSQL, MySQL/MariaDB.

    Args:
        url: any accepted database URL (see :func:`durable_core.storage.urls.normalize_url`).
        pool_size: connection pool size (SQLAlchemy's default when None).
        max_overflow: extra connections above ``pool_size`` (SQLAlchemy's default when None).
        echo: log every statement (SQLAlchemy ``echo``).
        sqlite_synchronous: SQLite's ``PRAGMA synchronous`` (``"full"``, the default, or ``"normal"``),
            unless the URL sets it with ``?synchronous=``; rejected for PostgreSQL and MySQL.

    Raises:
        InvalidDatabaseURLError: the URL is not accepted.
        DriverNotInstalledError: the driver for the URL is missing.
        ValueError: ``sqlite_synchronous`` is invalid, not for SQLite, or contradicts the URL.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        echo: bool = False,
        sqlite_synchronous: SqliteSynchronous | str | None = None,
    ) -> None:
        normalized = normalize_url(url)
        synchronous = resolve_sqlite_synchronous(url, sqlite_synchronous)
        dialect = dialect_for(
            backend_of(normalized), normalized, memory=is_memory_sqlite(normalized), synchronous=synchronous
        )
        self.dialect_name = dialect.name
        engine = create_async_engine(normalized, **dialect.engine_kwargs(pool_size, max_overflow, echo))
        dialect.install_events(engine)
        self._dialect = dialect
        self._conns = Connections(engine, dialect, mask_url(url))
        self._writer = dialect.fast_writer(self._conns)
        self._messaging = SqlMessaging(self._conns, dialect)
        self._url = url
        self._closed = False

    def __repr__(self) -> str:
        return f"SqlStorage({self._conns.display_url!r})"

    # -- instances -------------------------------------------------------------------------------------
    @guarded()
    async def create_instance(self, new: NewInstance) -> CreateResult:
        """Insert a PENDING instance; if the id exists, return the stored one with ``created=False``."""
        for _ in range(3):
            try:
                await self._writer.execute(hot.INSTANCE_INSERT, hot.instance_params(new))
                return CreateResult(created=True, instance=records.new_instance_record(new))
            except DuplicateKey:
                pass
            existing = await self.get_instance(new.instance_id)
            if existing is not None:
                return CreateResult(created=False, instance=existing)
        raise RuntimeError(f"instance {new.instance_id!r} kept appearing and disappearing while creating it")

    @guarded()
    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """One instance, or None."""
        async with self._conns.read() as conn:
            row = (await conn.execute(select(INSTANCES).where(_I.instance_id == instance_id))).first()
        return None if row is None else records.instance_from_row(row._mapping)

    @guarded()
    async def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        """Instances matching ``query``, newest first, at most ``query.limit`` (1..1000).

        Raises:
            ValueError: the limit is out of range or an ``input_equals`` pair is invalid.
        """
        stmt = list_instances_select(query, self._dialect)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [records.instance_from_row(row._mapping) for row in rows]

    @guarded()
    async def load_history(self, instance_id: str) -> list[HistoryEntry]:
        """All history entries of an instance, ordered by position, in one query."""
        stmt = select(HISTORY).where(_H.instance_id == instance_id).order_by(_H.position)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [records.history_from_row(row._mapping) for row in rows]

    @guarded()
    async def get_entry(self, instance_id: str, position: int) -> HistoryEntry | None:
        """One history entry, or None."""
        stmt = select(HISTORY).where(_H.instance_id == instance_id, _H.position == position)
        async with self._conns.read() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else records.history_from_row(row._mapping)

    @guarded()
    async def get_progress(self, instance_id: str) -> InstanceProgress:
        """Number of recorded steps (not now/uuid/random values) and the last one's name, in one query."""
        mine = and_(_H.instance_id == instance_id, _H.kind.in_([kind.value for kind in USER_STEP_KINDS]))
        count = select(func.count()).select_from(HISTORY).where(mine).scalar_subquery()
        last = select(_H.name).where(mine).order_by(_H.position.desc()).limit(1).scalar_subquery()
        async with self._conns.read() as conn:
            row = (await conn.execute(select(count, last))).one()
        return InstanceProgress(steps_completed=int(row[0] or 0), last_completed_step=row[1])

    @guarded()
    async def load_attempts(self, instance_id: str) -> dict[int, AttemptState]:
        """Durable attempt counters by position."""
        async with self._conns.read() as conn:
            rows = (await conn.execute(select(ATTEMPTS).where(_A.instance_id == instance_id))).all()
        states = (records.attempt_from_row(row._mapping) for row in rows)
        return {state.position: state for state in states}

    # -- leases ----------------------------------------------------------------------------------------
    def _lock_rows(self, stmt: Select[Any], *, skip_locked: bool) -> Select[Any]:
        return self._dialect.lock_rows(stmt, self._conns.engine.dialect, skip_locked=skip_locked)

    async def _claim(
        self, conn: AsyncConnection, stmt: Select[Any], owner: str, now: datetime, lease_ttl: timedelta
    ) -> list[ClaimedInstance]:
        rows = (await conn.execute(stmt)).all()
        if not rows:
            return []
        ids = [row._mapping["instance_id"] for row in rows]
        await conn.execute(leases.claim_update(ids, owner, now, lease_ttl))
        return [leases.claimed(row, owner, now, lease_ttl) for row in rows]

    @guarded()
    async def claim_instance(
        self,
        instance_id: str,
        owner: str,
        now: datetime,
        lease_ttl: timedelta,
        workflow_names: frozenset[str] | None = None,
    ) -> ClaimedInstance | None:
        """Claim one instance if it is runnable and its lease is free or expired (see :class:`Storage`)."""
        select_one = leases.claim_select(now).where(_I.instance_id == instance_id)
        if workflow_names is not None:
            select_one = select_one.where(_I.workflow_name.in_(sorted(workflow_names)))
        stmt = self._lock_rows(select_one, skip_locked=False)
        async with self._conns.write() as conn:
            claimed = await self._claim(conn, stmt, owner, now, lease_ttl)
        return claimed[0] if claimed else None

    @guarded()
    async def claim_these(
        self,
        instance_ids: Sequence[str],
        owner: str,
        now: datetime,
        lease_ttl: timedelta,
        workflow_names: frozenset[str],
    ) -> list[ClaimedInstance]:
        """Claim those of ``instance_ids`` that are runnable now, in one transaction (skipping locked rows).

        Used for wake-ups this process was told about, so a burst of them costs one claim, not one each.
        """
        ids = list(dict.fromkeys(instance_ids))[:ID_CHUNK]
        if not ids or not workflow_names:
            return []
        stmt = (
            leases.claim_select(now)
            .where(_I.instance_id.in_(ids), _I.workflow_name.in_(sorted(workflow_names)))
            .order_by(_I.instance_id)
        )
        async with self._conns.write() as conn:
            return await self._claim(conn, self._lock_rows(stmt, skip_locked=True), owner, now, lease_ttl)

    @guarded()
    async def claim_runnable(
        self,
        owner: str,
        now: datetime,
        lease_ttl: timedelta,
        limit: int,
        workflow_names: frozenset[str],
    ) -> list[ClaimedInstance]:
        """Claim up to ``limit`` runnable instances of ``workflow_names``, oldest first.

        PostgreSQL and MySQL 8 / MariaDB 10.6+ use ``FOR UPDATE SKIP LOCKED`` so concurrent claimers get
        disjoint sets without waiting; SQLite runs it as its single writer.
        """
        _positive("limit", limit)
        if not workflow_names:
            return []
        stmt = (
            leases.claim_select(now)
            .where(_I.workflow_name.in_(sorted(workflow_names)))
            .order_by(_I.created_at, _I.instance_id)
            .limit(limit)
        )
        async with self._conns.write() as conn:
            return await self._claim(conn, self._lock_rows(stmt, skip_locked=True), owner, now, lease_ttl)

    @guarded()
    async def renew_leases(
        self, owner: str, instance_ids: Sequence[str], now: datetime, lease_ttl: timedelta
    ) -> LeaseRenewal:
        """Extend every listed lease ``owner`` still holds (one UPDATE per 500 ids) and report cancels."""
        held, cancel, paused = set[str](), set[str](), set[str]()
        if not instance_ids:
            return LeaseRenewal(held=frozenset(), cancel_requested=frozenset())
        async with self._conns.write() as conn:
            for chunk in _chunks(instance_ids):
                mine = (_I.lease_owner == owner, _I.instance_id.in_(chunk))
                await conn.execute(update(INSTANCES).where(*mine).values(lease_expires_at=now + lease_ttl))
                columns = (_I.instance_id, _I.cancel_requested, _I.paused)
                rows = (await conn.execute(select(*columns).where(*mine))).all()
                held.update(row[0] for row in rows)
                cancel.update(row[0] for row in rows if row[1])
                paused.update(row[0] for row in rows if row[2])
        return LeaseRenewal(frozenset(held), frozenset(cancel), frozenset(paused))

    @guarded()
    async def release_lease(self, lease: Lease) -> bool:
        """Give the lease up (fenced) so any worker may claim the instance at once."""
        stmt = update(INSTANCES).where(leases.fence(lease)).values(lease_owner=None, lease_expires_at=None)
        async with self._conns.write() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    @guarded()
    async def lease_owners(self) -> list[str]:
        """Distinct owners currently holding leases (at most 1000)."""
        stmt = select(_I.lease_owner).where(_I.lease_owner.is_not(None)).distinct().limit(LEASE_OWNERS_LIMIT)
        async with self._conns.read() as conn:
            return sorted(str(row[0]) for row in (await conn.execute(stmt)).all())

    @guarded()
    async def expire_leases_of(self, owners: Sequence[str], now: datetime) -> int:
        """Expire (as of ``now``) every unexpired lease held by these dead owners; return how many."""
        total = 0
        async with self._conns.write() as conn:
            for chunk in _chunks(owners):
                stmt = (
                    update(INSTANCES)
                    .where(_I.lease_owner.in_(chunk), _I.lease_expires_at > now)
                    .values(lease_expires_at=now)
                )
                total += (await conn.execute(stmt)).rowcount
        return total

    # -- recording (fenced) ----------------------------------------------------------------------------
    async def record_step(
        self, lease: Lease, entry: HistoryEntry, *, tx: UserTransaction | None = None
    ) -> RecordOutcome:
        """Insert ``entry`` with one fenced ``INSERT ... SELECT`` and commit (``tx``'s, when given).

        Returns:
            RECORDED; LEASE_LOST when the epoch/owner moved on; CONFLICT when the position exists. In
            the last two cases nothing is written and ``tx`` (if any) is rolled back.

        Raises:
            StorageUnavailableError: the database cannot be reached (``tx`` is rolled back).
        """
        if tx is not None:
            outcome = await self._record_in_user_transaction(tx, hot.history_params(lease, entry))
            if outcome is not None:
                return outcome
        return await self._record(lease, entry)

    def _history_insert(self) -> Any:
        return hot.HISTORY_INSERT_LOCKED if self._dialect.lock_fence_row else hot.HISTORY_INSERT

    @guarded(retry_deadlocks=False, operation="record_step")
    async def _record_in_user_transaction(
        self, tx: UserTransaction, params: dict[str, Any]
    ) -> RecordOutcome | None:
        return await self._conns.record_in(tx, self._history_insert(), params)

    @guarded(operation="record_step")
    async def _record(self, lease: Lease, entry: HistoryEntry) -> RecordOutcome:
        try:
            inserted = await self._writer.execute(self._history_insert(), hot.history_params(lease, entry))
        except DuplicateKey:
            return RecordOutcome.CONFLICT
        return RecordOutcome.RECORDED if inserted == 1 else RecordOutcome.LEASE_LOST

    @guarded()
    async def record_attempt(
        self, lease: Lease, position: int, attempts: int, last_error: ErrorInfo | None
    ) -> RecordOutcome:
        """Upsert the durable attempt counter of a step (fenced)."""
        values = {
            "instance_id": lease.instance_id,
            "position": position,
            "attempts": attempts,
            "last_error": records.error_to_json(last_error),
        }
        async with self._conns.write() as conn:
            ok = await self._dialect.upsert_attempt(conn, leases.fence_select(lease), values)
        return RecordOutcome.RECORDED if ok else RecordOutcome.LEASE_LOST

    @guarded()
    async def set_status(self, lease: Lease, status: InstanceStatus, now: datetime) -> bool:
        """Change the status of an instance this lease holds (fenced); False if the lease is lost."""
        stmt = update(INSTANCES).where(leases.fence(lease)).values(status=status.value, updated_at=now)
        async with self._conns.write() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    @guarded()
    async def finish(self, lease: Lease, request: FinishRequest, now: datetime) -> bool:
        """Write the final (or BLOCKED/parked) state and release the lease, fenced."""
        return await self._writer.execute(hot.FINISH_UPDATE, hot.finish_params(lease, request, now)) == 1

    @guarded()
    async def park(self, lease: Lease, wake_at: datetime, now: datetime, frontier: int | None = None) -> bool:
        """Store the instance as WAITING until ``wake_at`` and release the lease (one fenced UPDATE)."""
        params = hot.park_params(lease, wake_at, now, frontier)  # frontier: see ctx.patched
        return await self._writer.execute(hot.PARK_UPDATE, params) == 1

    @guarded()
    async def next_wake_at(self, workflow_names: frozenset[str]) -> datetime | None:
        """The earliest ``wake_at`` of WAITING instances of ``workflow_names`` (index on status, wake_at)."""
        if not workflow_names:
            return None
        stmt = (
            select(_I.wake_at)
            .where(
                _I.status == InstanceStatus.WAITING.value,
                _I.wake_at.is_not(None),
                _I.paused.is_(False),  # a paused instance's timers fire on unpause
                _I.workflow_name.in_(sorted(workflow_names)),
            )
            .order_by(_I.wake_at)
            .limit(1)
        )
        async with self._conns.read() as conn:
            value = (await conn.execute(stmt)).scalar()
        return value if isinstance(value, datetime) else None

    def user_transaction(self) -> AbstractAsyncContextManager[UserTransaction]:
        """Open a transaction for an activity's ``ctx.session``; rolled back unless ``record_step`` commits it.

        The connection is taken lazily, when ``session`` is first used.
        """
        return self._user_transaction()

    @asynccontextmanager
    async def _user_transaction(self) -> AsyncIterator[UserTransaction]:
        tx = self._conns.begin_user_transaction()
        try:
            yield tx
        finally:
            await tx.close()

    def begin_user_transaction(self) -> UserTransaction:
        """Create a lazy user transaction: no connection is taken until ``session`` is first used.

        The caller must ``await tx.close()`` (after ``record_step(tx=...)`` it is already closed).
        """
        return self._conns.begin_user_transaction()

    # -- control ---------------------------------------------------------------------------------------
    @guarded()
    async def request_cancel(
        self, instance_id: str, reason: str, cancelled_by: str, now: datetime
    ) -> CancelOutcome:
        """Flag an unfinished instance for cancellation and make it runnable (``wake_at = now``).

        A BLOCKED or OUTCOME_UNKNOWN instance becomes RUNNING so that its next run cancels it; a QUEUED
        one (behind a singleton key) leaves the line as PENDING, and its run ends it CANCELLED at once.
        """
        probe = self._lock_rows(
            select(_I.status, _I.cancel_requested).where(_I.instance_id == instance_id), skip_locked=False
        )
        async with self._conns.write() as conn:
            row = (await conn.execute(probe)).first()
            if row is None:
                return CancelOutcome.NOT_FOUND
            status, already = InstanceStatus(row[0]), bool(row[1])
            if status.is_finished:
                return CancelOutcome.ALREADY_FINISHED
            parked = status in (InstanceStatus.BLOCKED, InstanceStatus.OUTCOME_UNKNOWN)
            if already and not parked:
                return CancelOutcome.ALREADY_REQUESTED
            values: dict[str, Any] = {"cancel_requested": True, "wake_at": now, "updated_at": now}
            if not already:
                values.update(cancel_reason=reason, cancelled_by=cancelled_by)
            if parked:
                values.update(status=InstanceStatus.RUNNING.value, blocked_reason=None)
            elif status is InstanceStatus.QUEUED:  # out of its singleton line; its run ends it CANCELLED
                values.update(status=InstanceStatus.PENDING.value)
            await conn.execute(update(INSTANCES).where(_I.instance_id == instance_id).values(**values))
        return CancelOutcome.ALREADY_REQUESTED if already else CancelOutcome.REQUESTED

    @guarded()
    async def resume_blocked(self, instance_id: str, now: datetime) -> bool:
        """Turn a BLOCKED instance back into RUNNING (runnable); False if it was not blocked."""
        stmt = (
            update(INSTANCES)
            .where(_I.instance_id == instance_id, _I.status == InstanceStatus.BLOCKED.value)
            .values(status=InstanceStatus.RUNNING.value, blocked_reason=None, wake_at=None, updated_at=now)
        )
        async with self._conns.write() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    @guarded()
    async def answer_unknown_outcome(
        self, instance_id: str, answer: ErrorInfo, now: datetime
    ) -> InstanceStatus:
        """Store an operator's answer for an OUTCOME_UNKNOWN instance; returns the status it had."""
        probe = self._lock_rows(unknown_outcomes.status_probe(instance_id), skip_locked=False)
        async with self._conns.write() as conn:
            status = (await conn.execute(probe)).scalar()
            if status is None:
                raise InstanceNotFoundError(f"no instance {instance_id!r}")
            if status == InstanceStatus.OUTCOME_UNKNOWN.value:
                await unknown_outcomes.answer_in(conn, instance_id, answer, now)
        return InstanceStatus(status)

    @guarded(retry_deadlocks=False)  # earlier batches are committed: a re-run could exceed ``limit``
    async def purge_finished(
        self, finished_before: datetime, limit: int, statuses: frozenset[InstanceStatus] | None = None
    ) -> int:
        """Delete finished instances older than the cut-off with their history (see :mod:`.purge`)."""
        _positive("limit", limit)
        return await purge.purge_finished(self._conns, self._lock_rows, finished_before, limit, statuses)

    # -- transactional outbox --------------------------------------------------------------------------
    def outbox(self) -> SqlOutboxStorage:
        """The outbox rows of this database (see :mod:`durable_core.storage.outbox`)."""
        return SqlOutboxStorage(self._conns, self._dialect)

    def stats(self) -> stats.SqlStats:
        """Counts over this database for operators (see :mod:`durable_core.storage.stats`)."""
        return stats.SqlStats(self._conns)

    def schedules(self) -> SqlSchedules:
        """Schedules of this database (see :mod:`durable_core.storage.schedules`)."""
        return SqlSchedules(self._conns, self._dialect)

    def run_control(self) -> SqlRunControl:
        """Retry, fork, pause/unpause, terminate and their journal (:mod:`durable_core.storage.run_control`)."""
        return SqlRunControl(self._conns, self._dialect)

    def liveness_factory(self) -> Callable[[], LivenessStore] | None:
        """Heartbeat rows on a connection of their own; None for SQLite.

        SQLite serves one host, where an app takes over the leases of dead local processes at start-up,
        and a heartbeat writer would compete for its single write lock.
        """
        if self._dialect.sole_writer:
            return None
        return functools.partial(SqlLiveness, self._url)

    def wake_listener(
        self, on_ids: Callable[[list[str]], None], on_connected: Callable[[], None]
    ) -> WakeListener | None:
        """A listener for wake-ups committed by other processes (PostgreSQL LISTEN/NOTIFY), else None."""
        return self._dialect.wake_listener(self._conns, on_ids, on_connected)

    def evolution(self) -> SqlEvolution:
        """Code-version bookkeeping of this database (see :mod:`durable_core.storage.evolution`)."""
        return SqlEvolution(self._conns)

    def flow(self) -> SqlFlow:
        """Queue claims, shared rate limits, debounce and singleton keys."""
        return SqlFlow(self._conns, self._dialect)

    def messaging(self) -> SqlMessaging:
        """Events, channel messages and waits of this database (see :mod:`durable_core.storage.messaging`)."""
        return self._messaging

    def streams(self) -> SqlStreamStore:
        """Output stream chunks of this database (see :mod:`durable_core.storage.streams`)."""
        return SqlStreamStore(self._conns, self._dialect)
