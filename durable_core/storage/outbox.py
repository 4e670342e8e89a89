"""Storage of the transactional outbox: rows written in an activity's transaction, claimed by relayers.

Table ``edda_outbox`` (see :data:`~durable_core.storage.schema.OUTBOX`). A row is written through the
activity's ``ctx.session`` (:meth:`SqlOutboxStorage.add_in`), so it commits with the activity's history
entry or not at all. Relayers then:

1. :meth:`~SqlOutboxStorage.claim` a batch: ``SELECT ... WHERE status = 'pending' AND next_attempt_at <= now
   ORDER BY next_attempt_at LIMIT n FOR UPDATE SKIP LOCKED`` (PostgreSQL, MySQL 8 / MariaDB 10.6+; SQLite
   runs the claim as its single writer under ``BEGIN IMMEDIATE``), and in the same transaction set
   ``claimed_by`` (a token unique to the claim), ``claimed_until = next_attempt_at = now + visibility
   timeout`` and ``attempts + 1``. A claimed row is therefore invisible to every scan until its visibility
   timeout passes; if its relayer crashed, the row becomes due again and another relayer takes it.
2. :meth:`~SqlOutboxStorage.record_outcomes`: one UPDATE per row, fenced on ``claimed_by`` so a relayer
   whose claim expired (and was re-claimed) cannot overwrite the newer owner's state.

Every scan is bounded (``LIMIT``) and served by an index on ``(status, next_attempt_at)`` or
``(status, created_at)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, delete, insert, or_, select, update

from durable_core.storage.base import OutboxStore, UserTransaction
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dialects import SqlDialect
from durable_core.storage.records import utc
from durable_core.storage.schema import OUTBOX
from durable_core.types import (
    JsonScalar,
    OutboxEvent,
    OutboxOutcome,
    OutboxRecord,
    OutboxStatus,
    PayloadEncoding,
)

__all__ = [
    "MAX_LIST_LIMIT",
    "OutboxOutcome",
    "SqlOutboxStorage",
    "outbox_record_from_row",
]  # OutboxOutcome: a value of types

MAX_LIST_LIMIT: Final = 1000
MAX_ERROR_CHARS: Final = 2000
_O = OUTBOX.c


def _event_values(event: OutboxEvent) -> dict[str, Any]:
    if event.data_blob is not None:
        encoding, data_json, data_blob = PayloadEncoding.BYTES, None, event.data_blob
    elif event.data_json is not None:
        encoding, data_json, data_blob = PayloadEncoding.JSON, event.data_json, None
    else:
        encoding, data_json, data_blob = PayloadEncoding.NONE, None, None
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "event_source": event.event_source,
        "subject": event.subject,
        "data_content_type": event.data_content_type,
        "extensions": dict(event.extensions) if event.extensions else None,
        "data_encoding": encoding.value,
        "data_json": data_json,
        "data_blob": data_blob,
        "instance_id": event.instance_id,
        "activity_id": event.activity_id,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": event.created_at,
        "created_at": event.created_at,
    }


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _record(row: Mapping[Any, Any]) -> OutboxRecord:
    encoding = PayloadEncoding(row["data_encoding"])
    extensions: dict[str, JsonScalar] = dict(row["extensions"] or {})
    event = OutboxEvent(
        event_id=row["event_id"],
        event_type=row["event_type"],
        event_source=row["event_source"],
        created_at=utc(row["created_at"]),
        instance_id=row["instance_id"],
        activity_id=row["activity_id"],
        subject=row["subject"],
        data_content_type=row["data_content_type"],
        extensions=tuple(sorted(extensions.items())),
        data_json=row["data_json"] if encoding is PayloadEncoding.JSON else None,
        data_blob=bytes(row["data_blob"]) if encoding is PayloadEncoding.BYTES else None,
    )
    return OutboxRecord(
        event=event,
        status=OutboxStatus(row["status"]),
        attempts=int(row["attempts"]),
        next_attempt_at=utc(row["next_attempt_at"]),
        claimed_by=row["claimed_by"],
        claimed_until=_opt_utc(row["claimed_until"]),
        sent_at=_opt_utc(row["sent_at"]),
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
    )


#: An outbox row as an :class:`OutboxRecord` (for the operator queries of the same table).
outbox_record_from_row: Final = _record


def _positive(name: str, value: int, upper: int | None = None) -> None:
    if type(value) is not int or value < 1 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be a positive int{bound}, got {value!r}")


class SqlOutboxStorage(OutboxStore):
    """Outbox rows on the engine's own database (get it with ``SqlStorage.outbox()``)."""

    def __init__(self, conns: Connections, dialect: SqlDialect) -> None:
        self._conns = conns
        self._dialect = dialect

    # -- writing (inside an activity) --------------------------------------------------------------------
    async def add_in(self, tx: UserTransaction, event: OutboxEvent) -> None:
        """Insert ``event`` through ``tx``'s session: it commits with the activity's history entry."""
        await tx.session.execute(insert(OUTBOX).values(**_event_values(event)))

    # -- relaying ----------------------------------------------------------------------------------------
    @guarded()
    async def claim(
        self, owner: str, now: datetime, visibility_timeout: timedelta, limit: int, max_attempts: int
    ) -> list[OutboxRecord]:
        """Claim up to ``limit`` due pending rows for ``owner`` (a token unique to this claim).

        Rows whose attempt budget was already used up (their relayer died during the last attempt) are
        marked FAILED instead of being returned.
        """
        _positive("limit", limit)
        stmt = (
            select(OUTBOX)
            .where(_O.status == OutboxStatus.PENDING.value, _O.next_attempt_at <= now)
            .order_by(_O.next_attempt_at, _O.event_id)
            .limit(limit)
        )
        stmt = self._dialect.lock_rows(stmt, self._conns.engine.dialect, skip_locked=True)
        until = now + visibility_timeout
        async with self._conns.write() as conn:
            rows = [_record(row._mapping) for row in (await conn.execute(stmt)).all()]
            live = [r for r in rows if r.attempts < max_attempts]
            dead = [r.event.event_id for r in rows if r.attempts >= max_attempts]
            if dead:
                await conn.execute(
                    update(OUTBOX)
                    .where(_O.event_id.in_(dead))
                    .values(
                        status=OutboxStatus.FAILED.value,
                        claimed_by=None,
                        claimed_until=None,
                        last_error="the relayer stopped during the last allowed delivery attempt",
                    )
                )
            if live:
                await conn.execute(
                    update(OUTBOX)
                    .where(_O.event_id.in_([r.event.event_id for r in live]))
                    .values(
                        claimed_by=owner,
                        claimed_until=until,
                        next_attempt_at=until,
                        attempts=_O.attempts + 1,
                    )
                )
        return [
            OutboxRecord(
                event=r.event,
                status=r.status,
                attempts=r.attempts + 1,
                next_attempt_at=until,
                claimed_by=owner,
                claimed_until=until,
                last_status_code=r.last_status_code,
                last_error=r.last_error,
            )
            for r in live
        ]

    @guarded()
    async def record_outcomes(self, owner: str, outcomes: Sequence[OutboxOutcome], now: datetime) -> int:
        """Store the outcome of each claimed row (fenced on ``claimed_by``); return how many were stored."""
        stored = 0
        if not outcomes:
            return 0
        async with self._conns.write() as conn:
            for outcome in outcomes:
                values: dict[str, Any] = {
                    "status": outcome.status.value,
                    "claimed_by": None,
                    "claimed_until": None,
                    "last_status_code": outcome.status_code,
                    "last_error": None if outcome.error is None else outcome.error[:MAX_ERROR_CHARS],
                }
                if outcome.status is OutboxStatus.SENT:
                    values["sent_at"] = now
                if outcome.status is OutboxStatus.PENDING:
                    values["next_attempt_at"] = outcome.retry_at or now
                stmt = (
                    update(OUTBOX)
                    .where(
                        _O.event_id == outcome.event_id,
                        _O.claimed_by == owner,
                        _O.status == OutboxStatus.PENDING.value,
                    )
                    .values(**values)
                )
                stored += (await conn.execute(stmt)).rowcount
        return stored

    # -- observability and retention ---------------------------------------------------------------------
    @guarded()
    async def get(self, event_id: str) -> OutboxRecord | None:
        """One outbox row, or None (for tests and tools; not in the OutboxStore port)."""
        async with self._conns.read() as conn:
            row = (await conn.execute(select(OUTBOX).where(_O.event_id == event_id))).first()
        return None if row is None else _record(row._mapping)

    @guarded()
    async def list_rows(
        self,
        status: OutboxStatus | None = None,
        limit: int = 100,
        after: tuple[datetime, str] | None = None,
    ) -> list[OutboxRecord]:
        """Rows (with ``status`` when given), oldest first, at most ``limit`` (1..1000).

        Args:
            status: only rows in this state.
            limit: page size.
            after: keyset cursor ``(created_at, event_id)`` of the last row of the previous page.
        """
        _positive("limit", limit, MAX_LIST_LIMIT)
        stmt = select(OUTBOX)
        if status is not None:
            stmt = stmt.where(_O.status == OutboxStatus(status).value)
        if after is not None:
            created, event_id = after
            stmt = stmt.where(
                or_(_O.created_at > created, and_(_O.created_at == created, _O.event_id > event_id))
            )
        stmt = stmt.order_by(_O.created_at, _O.event_id).limit(limit)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_record(row._mapping) for row in rows]

    @guarded(retry_deadlocks=False)
    async def purge_sent(self, created_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` SENT rows created before the cut-off (oldest first); return how many."""
        _positive("limit", limit, MAX_LIST_LIMIT)
        stmt = (
            select(_O.event_id)
            .where(_O.status == OutboxStatus.SENT.value, _O.created_at < created_before)
            .order_by(_O.created_at, _O.event_id)
            .limit(limit)
        )
        async with self._conns.write() as conn:
            ids = [row[0] for row in (await conn.execute(stmt)).all()]
            if ids:
                await conn.execute(delete(OUTBOX).where(_O.event_id.in_(ids)))
        return len(ids)
