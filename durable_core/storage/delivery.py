"""Sending inside a write transaction: who receives a message, who wakes, and the in-process hand-off.

Used by :class:`~durable_core.storage.messaging.SqlMessaging`, which owns the transactions and the key
locks (see its module docstring for why no wake-up is lost). Receivers of a send by type or on a channel
are read in keyset batches of :data:`SCAN_BATCH`, so every scan is bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from durable_core.errors import InstanceNotFoundError
from durable_core.storage import hot_statements as hot
from durable_core.storage import leases, records
from durable_core.storage.dialects import ErrorKind, SqlDialect
from durable_core.storage.schema import HISTORY, INSTANCES, MESSAGES, SUBSCRIPTIONS, WAITS
from durable_core.types import (
    FINISHED_STATUSES,
    DeliveryResult,
    Handoff,
    HistoryEntry,
    InstanceStatus,
    Lease,
    LocalClaim,
    OutgoingMessage,
    RecordOutcome,
    SubscriptionMode,
    WaitKey,
    WaitKind,
)

__all__ = ["SCAN_BATCH", "Delivery"]

_I = INSTANCES.c
_W = WAITS.c
_S = SUBSCRIPTIONS.c
_WAITING: Final = InstanceStatus.WAITING.value
_FINISHED: Final = sorted(s.value for s in FINISHED_STATUSES)
SCAN_BATCH: Final = 1000  # receivers of a by-type event / broadcast are read and written in batches
_WAIT_CHUNK: Final = 500


class Delivery:
    """The statements of a send, run on a connection whose transaction the caller owns."""

    def __init__(self, dialect: SqlDialect) -> None:
        self._dialect = dialect

    async def deliver_locked(
        self,
        conn: AsyncConnection,
        message: OutgoingMessage,
        now: datetime,
        claim_for: LocalClaim | None = None,
        handoff: Handoff | None = None,
    ) -> DeliveryResult:
        """Store ``message`` for its receivers and wake (or lease, or hand off to) the waiting ones.

        The caller holds the transaction and, for sends that are not addressed, the key's lock.

        Raises:
            InstanceNotFoundError: the message names a target instance that does not exist.
        """
        token = message.key.token
        if message.target_instance_id is not None:
            return await self._deliver_to(conn, message, message.target_instance_id, now, claim_for, handoff)
        if message.key.kind is WaitKind.MESSAGE:
            subs = await _scan(
                conn,
                select(_S.instance_id, _S.mode)
                .join(INSTANCES, _I.instance_id == _S.instance_id)
                .where(_S.channel == message.key.name, _I.status.not_in(_FINISHED)),
                _S.instance_id,
            )
            broadcast = [row[0] for row in subs if row[1] == SubscriptionMode.BROADCAST.value]
            competing = [row[0] for row in subs if row[1] == SubscriptionMode.COMPETING.value]
            receivers = broadcast
            # a competing queue keeps the message until one subscriber takes it - also when nobody has
            # subscribed yet (a job queue); a channel with only broadcast subscribers keeps no shared copy
            shared = bool(competing) or not broadcast
            wake_candidates = broadcast + competing
        else:  # an event by type: every instance waiting for it now gets its own copy
            waiting = await _scan(
                conn,
                select(_W.instance_id)
                .join(INSTANCES, _I.instance_id == _W.instance_id)
                .where(_W.wait_key == token, _I.status.not_in(_FINISHED)),
                _W.instance_id,
            )
            receivers = [row[0] for row in waiting]
            wake_candidates = receivers
            shared = False
        rows = [self._message_values(message, target, now) for target in receivers]
        if shared:
            rows.append(self._message_values(message, None, now))
        for start in range(0, len(rows), SCAN_BATCH):
            await conn.execute(insert(MESSAGES), rows[start : start + SCAN_BATCH])
        woken = await self._wake(conn, token, wake_candidates, now)
        return DeliveryResult(stored=len(rows), woken=tuple(woken))

    @staticmethod
    def _message_values(message: OutgoingMessage, target: str | None, now: datetime) -> dict[str, Any]:
        return {
            "target_instance_id": target,
            "wait_key": message.key.token,
            **records.payload_values("data", message.data),
            "meta": message.metadata,
            "created_at": now,
        }

    async def _deliver_to(
        self,
        conn: AsyncConnection,
        message: OutgoingMessage,
        target: str,
        now: datetime,
        claim_for: LocalClaim | None = None,
        handoff: Handoff | None = None,
    ) -> DeliveryResult:
        """Store an addressed message in ``target``'s mailbox and wake it if it waits for the key.

        Locking the target's instance row orders this send against the target parking (which updates
        that row before it checks its mailbox), so sends to different instances never wait for each other.
        """
        probe = self._dialect.lock_rows(select(INSTANCES).where(_I.instance_id == target), conn.dialect)
        row = (await conn.execute(probe)).first()
        if row is None:
            raise InstanceNotFoundError(f"no workflow instance {target!r}")
        status = row._mapping["status"]
        if row._mapping["queue_name"] is not None:  # a queued instance takes a slot through its queue claim
            claim_for = handoff = None
        if InstanceStatus(status).is_finished:
            return DeliveryResult(stored=0)
        waits_for_it = exists().where(_W.instance_id == target, _W.wait_key == message.key.token)
        if row._mapping["paused"]:  # app.pause: it only collects mail until unpaused, nobody runs it
            claim_for = handoff = None
        if status == _WAITING and claim_for is not None and handoff is not None:
            done = await self._hand_off(conn, row, message, now, claim_for, handoff, waits_for_it)
            if done is not None:
                return done
        await conn.execute(insert(MESSAGES), [self._message_values(message, target, now)])
        if status != _WAITING:
            return DeliveryResult(stored=1)
        if claim_for is not None and row._mapping["lease_owner"] is None:
            claim = leases.claim_update([target], claim_for.owner, now, claim_for.lease_ttl).where(
                waits_for_it
            )
            if (await conn.execute(claim)).rowcount != 1:
                return DeliveryResult(
                    stored=1
                )  # waiting for something else: the message stays in the mailbox
            claimed = leases.claimed(row, claim_for.owner, now, claim_for.lease_ttl)
            return DeliveryResult(stored=1, claimed=(claimed,))
        woken = await conn.execute(
            update(INSTANCES)
            .where(_I.instance_id == target, _I.status == _WAITING, waits_for_it)
            .values(wake_at=now, updated_at=now)
        )
        return DeliveryResult(stored=1, woken=(target,) if woken.rowcount == 1 else ())

    async def _hand_off(
        self,
        conn: AsyncConnection,
        row: Any,
        message: OutgoingMessage,
        now: datetime,
        claim_for: LocalClaim,
        handoff: Handoff,
        waits_for_it: Any,
    ) -> DeliveryResult | None:
        """Lease the parked target and record its wait's end with this message; None: not possible."""
        fields = row._mapping
        target = str(fields["instance_id"])
        deadline = fields["deadline_at"]
        if (
            fields["lease_owner"] is not None
            or int(fields["lease_epoch"]) != handoff.epoch
            or fields["cancel_requested"]
            or (deadline is not None and now >= deadline)
            or handoff.entry.instance_id != target
        ):
            return None
        claim = leases.claim_update([target], claim_for.owner, now, claim_for.lease_ttl).where(waits_for_it)
        if (await conn.execute(claim)).rowcount != 1:
            return None  # not listening for this key any more: store the message as usual
        claimed = leases.claimed(row, claim_for.owner, now, claim_for.lease_ttl)
        record = insert(HISTORY).values(**records.history_values(handoff.entry))
        if self._dialect.sole_writer:
            # The sole writer, and the epoch was checked: nobody can have recorded this position since
            # the run that parked it (which recorded nothing at it). No savepoint round trips needed.
            await conn.execute(record)
            await conn.execute(self.drop_waits(target, handoff.retain, message.key))
            return DeliveryResult(stored=0, claimed=(claimed,), handed_off=True)
        try:
            async with conn.begin_nested():
                await conn.execute(record)
        except Exception as exc:  # the position was recorded after all: let the woken run take the message
            if self._dialect.classify(exc) is not ErrorKind.UNIQUE_VIOLATION:
                raise
            await conn.execute(insert(MESSAGES), [self._message_values(message, target, now)])
            return DeliveryResult(stored=1, claimed=(claimed,))
        await conn.execute(self.drop_waits(target, handoff.retain, message.key))
        return DeliveryResult(stored=0, claimed=(claimed,), handed_off=True)

    async def _wake(
        self, conn: AsyncConnection, token: str, candidates: Sequence[str], now: datetime
    ) -> list[str]:
        """Make runnable those ``candidates`` that are WAITING with a wait on ``token``."""
        woken: list[str] = []
        for start in range(0, len(candidates), _WAIT_CHUNK):
            chunk = list(candidates[start : start + _WAIT_CHUNK])
            ids = [
                row[0]
                for row in (
                    await conn.execute(
                        select(_W.instance_id)
                        .join(INSTANCES, _I.instance_id == _W.instance_id)
                        .where(_W.wait_key == token, _W.instance_id.in_(chunk), _I.status == _WAITING)
                    )
                ).all()
            ]
            if ids:
                await conn.execute(
                    update(INSTANCES)
                    .where(_I.instance_id.in_(ids), _I.status == _WAITING)
                    .values(wake_at=now, updated_at=now)
                )
                woken.extend(ids)
        return woken

    @staticmethod
    def drop_waits(instance_id: str, retain: Sequence[WaitKey], taken: WaitKey | None) -> Any:
        """The wait is over: stop listening, except for ``retain`` (minus what was just taken)."""
        kept = [key.token for key in retain if key != taken]
        stmt = delete(WAITS).where(_W.instance_id == instance_id)
        return stmt.where(_W.wait_key.not_in(kept)) if kept else stmt

    async def insert_history(self, conn: AsyncConnection, lease: Lease, entry: HistoryEntry) -> RecordOutcome:
        """Record ``entry`` fenced on ``lease`` in the caller's transaction (RECORDED/CONFLICT/LEASE_LOST)."""
        stmt = hot.HISTORY_INSERT_LOCKED if self._dialect.lock_fence_row else hot.HISTORY_INSERT
        try:  # no savepoint: on a conflict the caller abandons the whole transaction anyway
            inserted = (await conn.execute(stmt, hot.history_params(lease, entry))).rowcount
        except Exception as exc:
            if self._dialect.classify(exc) is ErrorKind.UNIQUE_VIOLATION:
                return RecordOutcome.CONFLICT
            raise
        return RecordOutcome.RECORDED if inserted == 1 else RecordOutcome.LEASE_LOST


async def _scan(conn: AsyncConnection, stmt: Any, key: Any) -> list[Any]:
    """Every row of ``stmt``, read in keyset pages of :data:`SCAN_BATCH` ordered by ``key`` (bounded scans)."""
    rows: list[Any] = []
    last: str | None = None
    while True:
        page_stmt = stmt.order_by(key).limit(SCAN_BATCH)
        if last is not None:
            page_stmt = page_stmt.where(key > last)
        page = (await conn.execute(page_stmt)).all()
        rows.extend(page)
        if len(page) < SCAN_BATCH:
            return rows
        last = page[-1][0]
