"""Storage of events, channel messages, waits, subscriptions, child links and recur archives.

Tables (see :mod:`durable_core.storage.schema`): ``edda_messages`` (mailboxes and competing queues),
``edda_waits`` (what a suspended instance listens to), ``edda_subscriptions``, ``edda_key_locks``,
``edda_history_archive``.

No lost wake-ups. Every parker first locks the rows of the keys it waits for
(:meth:`SqlDialect.lock_keys`; SQLite's single writer needs none) and then updates its own instance row,
before it checks its mailbox. A send by type or on a channel locks the key's row; a send addressed to one
instance locks that instance's row. So a message and a wait being registered are always ordered: either
the message commits first, and the parker sees it in its mailbox check and keeps running instead of
parking; or the wait commits first, and the sender sees the wait row and makes the instance runnable
(``wake_at = now``), in the same transaction that stores the message. A
woken instance is announced with ``pg_notify`` inside that transaction on PostgreSQL; other databases
rely on the dispatcher's bounded fallback poll, and local senders hint their own dispatcher directly.

Taking a message is exactly-once into history: the message row is deleted in the same (fenced)
transaction that records it at the waiting position; competing consumers skip rows locked by each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, delete, exists, func, insert, literal, or_, select, update

from durable_core.errors import InstanceNotFoundError
from durable_core.storage import hot_statements as hot
from durable_core.storage import records
from durable_core.storage.base import Messaging
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.delivery import Delivery
from durable_core.storage.dialects import SqlDialect
from durable_core.storage.leases import fence
from durable_core.storage.schema import (
    ATTEMPTS,
    HISTORY,
    HISTORY_ARCHIVE,
    INSTANCES,
    MESSAGES,
    SUBSCRIPTIONS,
    WAITS,
)
from durable_core.types import (
    FINISHED_STATUSES,
    DeliveryResult,
    FinishRequest,
    Handoff,
    HistoryEntry,
    InstanceStatus,
    JsonValue,
    Lease,
    LocalClaim,
    OutgoingMessage,
    ParkOutcome,
    Payload,
    RecordOutcome,
    StoredMessage,
    SubscriptionMode,
    WaitInfo,
    WaitKey,
    WaitKind,
    WaitRegistration,
)

__all__ = ["Handoff", "LocalClaim", "SqlMessaging"]  # Handoff/LocalClaim: values of durable_core.types

_I = INSTANCES.c
_M = MESSAGES.c
_W = WAITS.c
_S = SUBSCRIPTIONS.c
_H = HISTORY.c
_X = HISTORY_ARCHIVE.c
_WAITING: Final = InstanceStatus.WAITING.value
_FINISHED: Final = sorted(s.value for s in FINISHED_STATUSES)
_HISTORY_COLUMNS: Final = list(HISTORY.c.keys())  # instance_id, position, kind, ...
_ARCHIVE_COLUMNS: Final = ["instance_id", "run", *_HISTORY_COLUMNS[1:]]


class _Rollback(Exception):
    """Abandon the current write transaction (rolled back by the ``write()`` context)."""

    def __init__(self, outcome: Any) -> None:
        super().__init__("rollback")
        self.outcome = outcome


class SqlMessaging(Messaging):
    """Events, channel messages and waits on the SQL database of a :class:`SqlStorage`."""

    def __init__(self, conns: Connections, dialect: SqlDialect) -> None:
        self._conns = conns
        self._dialect = dialect
        self._delivery = Delivery(dialect)

    # -- sending ---------------------------------------------------------------------------------------
    @guarded()
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
            message: what to send, to whom (see :class:`OutgoingMessage`).
            now: the engine clock's time (``created_at`` and the wake-up time).
            record: a workflow's journaled send: also record this history entry (fenced) in the same
                transaction, so the send happens exactly once.
            claim_for: a worker of this process with a free slot: an addressed message that wakes its
                target also leases the target to that worker, in the same transaction (no claim
                round trip; returned in ``DeliveryResult.claimed``).
            handoff: with ``claim_for``: when the target is still parked by that run (same epoch, still
                listening, not cancelled, before its deadline), record the wait's end directly instead of
                storing the message, so the woken run replays it (``DeliveryResult.handed_off``).

        Raises:
            InstanceNotFoundError: the message names a target instance that does not exist.
        """
        try:
            async with self._conns.write() as conn:
                if message.target_instance_id is None:  # addressed sends lock the target's row instead
                    await self._dialect.lock_keys(conn, [message.key.token])
                result = await self._delivery.deliver_locked(conn, message, now, claim_for, handoff)
                if record is not None:
                    outcome = await self._delivery.insert_history(conn, *record)
                    if outcome is not RecordOutcome.RECORDED:
                        raise _Rollback(outcome)
                await self._dialect.notify_wake(conn, result.woken)
        except _Rollback as rollback:
            return DeliveryResult(stored=0, woken=(), record_outcome=rollback.outcome)
        return result

    @guarded()
    async def announce(self, instance_ids: Sequence[str]) -> None:
        """Tell other processes these instances are runnable (PostgreSQL NOTIFY; a no-op elsewhere)."""
        if not self._dialect.notifies_wakes or not instance_ids:
            return
        async with self._conns.write() as conn:
            await self._dialect.notify_wake(conn, instance_ids)

    # -- waiting ---------------------------------------------------------------------------------------
    @guarded()
    async def park(
        self, lease: Lease, wait: WaitRegistration, now: datetime, frontier: int | None = None
    ) -> ParkOutcome:
        """Store the instance as WAITING for ``wait`` and release its lease, unless it need not wait.

        When something it waits for is already there, nothing is written and it keeps running.
        ``frontier`` (how many positions the code took) is kept for ``ctx.patched``.

        Returns:
            PARKED, MESSAGE_AVAILABLE (keep running: take it), or LEASE_LOST (nothing written).
        """
        tokens = [key.token for key in wait.keys]
        schemas = dict(wait.schemas)
        try:
            async with self._conns.write() as conn:
                await self._dialect.lock_keys(conn, tokens)
                parked = await conn.execute(
                    hot.PARK_UPDATE, hot.park_params(lease, wait.wake_at, now, frontier)
                )
                if parked.rowcount != 1:
                    raise _Rollback(ParkOutcome.LEASE_LOST)
                await conn.execute(delete(WAITS).where(_W.instance_id == lease.instance_id))
                if tokens:
                    await conn.execute(
                        insert(WAITS),
                        [
                            {
                                "instance_id": lease.instance_id,
                                "wait_key": key.token,
                                "input_schema": schemas.get(key.name) if key.kind is WaitKind.EVENT else None,
                            }
                            for key in wait.keys
                        ],
                    )
                    first = (
                        await conn.execute(self._available(lease.instance_id, wait.keys).limit(1))
                    ).first()
                    if first is not None:
                        raise _Rollback(ParkOutcome.MESSAGE_AVAILABLE)
        except _Rollback as rollback:
            return rollback.outcome  # type: ignore[no-any-return]
        return ParkOutcome.PARKED

    def _available(self, instance_id: str, keys: Sequence[WaitKey]) -> Any:
        """Messages this instance may take for ``keys``: its own, or a competing queue it subscribes to."""
        tokens = [key.token for key in keys]
        own = and_(_M.target_instance_id == instance_id, _M.wait_key.in_(tokens))
        conditions = [own]
        for key in keys:
            if key.kind is not WaitKind.MESSAGE:
                continue
            subscribed = exists().where(
                _S.instance_id == instance_id,
                _S.channel == key.name,
                _S.mode == SubscriptionMode.COMPETING.value,
            )
            conditions.append(and_(_M.target_instance_id.is_(None), _M.wait_key == key.token, subscribed))
        return select(MESSAGES).where(or_(*conditions)).order_by(_M.message_id)

    @guarded(retry_deadlocks=False)
    async def take(
        self,
        lease: Lease,
        keys: Sequence[WaitKey],
        build_entry: Callable[[StoredMessage], HistoryEntry],
        retain: Sequence[WaitKey] = (),
        sent_by: datetime | None = None,
    ) -> tuple[RecordOutcome, HistoryEntry | None]:
        """Take the oldest message for ``keys`` and record it, in one fenced transaction.

        Args:
            lease: the running instance's lease (the history insert is fenced on it).
            keys: what the waiting position listens to.
            build_entry: turns the taken message into the history entry to record.
            retain: keys that stay registered after this wait ends (``wait_all``'s other alternatives);
                every other wait row of the instance is dropped with the message.
            sent_by: take only a message stored at or before this time (a wait whose timeout passed
                takes what arrived in time; what came later stays in the mailbox).

        Returns:
            (RECORDED, entry) when a message was taken; (RECORDED, None) when there is none;
            (LEASE_LOST or CONFLICT, None) when nothing could be recorded (nothing was taken).
        """
        stmt = self._available(lease.instance_id, keys).limit(1)
        if sent_by is not None:
            stmt = stmt.where(_M.created_at <= sent_by)
        stmt = self._dialect.lock_rows(stmt, self._conns.engine.dialect, skip_locked=True, of=MESSAGES)
        try:
            async with self._conns.write() as conn:
                row = (await conn.execute(stmt)).first()
                if row is None:
                    return RecordOutcome.RECORDED, None
                message = _message_from_row(row._mapping)
                entry = build_entry(message)
                await conn.execute(delete(MESSAGES).where(_M.message_id == message.message_id))
                outcome = await self._delivery.insert_history(conn, lease, entry)
                if outcome is not RecordOutcome.RECORDED:
                    raise _Rollback(outcome)
                await conn.execute(Delivery.drop_waits(lease.instance_id, retain, message.key))
        except _Rollback as rollback:
            return rollback.outcome, None
        return RecordOutcome.RECORDED, entry

    @guarded(retry_deadlocks=False)
    async def end_wait(
        self, lease: Lease, entry: HistoryEntry, retain: Sequence[WaitKey] = ()
    ) -> RecordOutcome:
        """Record a wait that ended without a message (timeout) and drop its wait rows, fenced."""
        try:
            async with self._conns.write() as conn:
                outcome = await self._delivery.insert_history(conn, lease, entry)
                if outcome is not RecordOutcome.RECORDED:
                    raise _Rollback(outcome)
                await conn.execute(Delivery.drop_waits(lease.instance_id, retain, None))
        except _Rollback as rollback:
            return rollback.outcome  # type: ignore[no-any-return]
        return RecordOutcome.RECORDED

    @guarded()
    async def get_wait(self, instance_id: str) -> WaitInfo | None:
        """What a WAITING instance waits for; None when it is not waiting."""
        async with self._conns.read() as conn:
            row = (
                await conn.execute(select(_I.status, _I.wake_at).where(_I.instance_id == instance_id))
            ).first()
            if row is None:
                raise InstanceNotFoundError(f"no workflow instance {instance_id!r}")
            if row[0] != _WAITING:
                return None
            waits = (
                await conn.execute(
                    select(_W.wait_key, _W.input_schema)
                    .where(_W.instance_id == instance_id)
                    .order_by(_W.wait_key)
                )
            ).all()
        keys = [(WaitKey.parse(w[0]), w[1]) for w in waits]
        return WaitInfo(
            event_types=tuple(k.name for k, _ in keys if k.kind is WaitKind.EVENT),
            channels=tuple(k.name for k, _ in keys if k.kind is WaitKind.MESSAGE),
            children=tuple(k.name for k, _ in keys if k.kind is WaitKind.CHILD),
            wake_at=row[1],
            input_schemas={
                k.name: schema for k, schema in keys if k.kind is WaitKind.EVENT and schema is not None
            },
        )

    # -- subscriptions ---------------------------------------------------------------------------------
    @guarded()
    async def subscribe(self, instance_id: str, channel: str, mode: SubscriptionMode, now: datetime) -> None:
        """Subscribe (or change the mode of) ``instance_id`` to ``channel``; idempotent."""
        async with self._conns.write() as conn:
            await self._dialect.lock_keys(conn, [WaitKey(WaitKind.MESSAGE, channel).token])
            await self._dialect.upsert_subscription(
                conn, {"instance_id": instance_id, "channel": channel, "mode": mode.value, "created_at": now}
            )

    @guarded()
    async def unsubscribe(self, instance_id: str, channel: str) -> bool:
        """Remove a subscription; False if there was none."""
        async with self._conns.write() as conn:
            await self._dialect.lock_keys(conn, [WaitKey(WaitKind.MESSAGE, channel).token])
            stmt = delete(SUBSCRIPTIONS).where(_S.instance_id == instance_id, _S.channel == channel)
            return (await conn.execute(stmt)).rowcount > 0

    # -- child workflows -------------------------------------------------------------------------------
    @guarded()
    async def finish_child(
        self, lease: Lease, request: FinishRequest, now: datetime, parent_id: str, meta: dict[str, JsonValue]
    ) -> tuple[bool, tuple[str, ...]]:
        """Finish a child instance and deliver its end to the parent's mailbox, in one transaction.

        Returns:
            (False, ()) when the lease is lost (nothing written); else (True, parent ids woken).
        """
        key = WaitKey(WaitKind.CHILD, lease.instance_id)
        try:
            async with self._conns.write() as conn:
                await self._dialect.lock_keys(conn, [key.token])
                done = await conn.execute(hot.FINISH_UPDATE, hot.finish_params(lease, request, now))
                if done.rowcount != 1:
                    raise _Rollback(False)
                message = OutgoingMessage(
                    key=key, data=request.output, metadata=meta, target_instance_id=parent_id
                )
                try:
                    result = await self._delivery.deliver_locked(conn, message, now)
                except InstanceNotFoundError:  # the parent was purged: nobody to tell
                    return True, ()
                await self._dialect.notify_wake(conn, result.woken)
        except _Rollback as rollback:
            return bool(rollback.outcome), ()
        return True, result.woken

    # -- recur -----------------------------------------------------------------------------------------
    @guarded(retry_deadlocks=False)
    async def recur(
        self, lease: Lease, new_input: Payload, input_hash: str, now: datetime, keep_runs: int
    ) -> bool:
        """Start the next run of an instance atomically: archive its history, clear it, store the new input.

        Subscriptions and the mailbox are kept. Only the newest ``keep_runs`` archived runs are kept.
        Returns False (nothing written) when the lease is lost.
        """
        iid = lease.instance_id
        try:
            async with self._conns.write() as conn:
                values = {
                    **records.payload_values("input", new_input),
                    "input_hash": input_hash,
                    "updated_at": now,
                    "replay_frontier": None,  # a new run: no code has run in it yet
                }
                moved = await conn.execute(update(INSTANCES).where(fence(lease)).values(**values))
                if moved.rowcount != 1:
                    raise _Rollback(False)
                last = (await conn.execute(select(func.max(_X.run)).where(_X.instance_id == iid))).scalar()
                run = int(last or 0) + 1
                source = select(
                    _H.instance_id,
                    literal(run, HISTORY_ARCHIVE.c.run.type),
                    *[_H[c] for c in _HISTORY_COLUMNS[1:]],
                ).where(_H.instance_id == iid)
                await conn.execute(insert(HISTORY_ARCHIVE).from_select(_ARCHIVE_COLUMNS, source))
                await conn.execute(delete(HISTORY).where(_H.instance_id == iid))
                await conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.instance_id == iid))
                await conn.execute(delete(WAITS).where(_W.instance_id == iid))
                await conn.execute(
                    delete(HISTORY_ARCHIVE).where(_X.instance_id == iid, _X.run <= run - keep_runs)
                )
        except _Rollback as rollback:
            return bool(rollback.outcome)
        return True

    @guarded()
    async def archived_runs(self, instance_id: str) -> list[int]:
        """Run numbers of the archived histories of an instance, oldest first (for tests; not in the port)."""
        async with self._conns.read() as conn:
            rows = (
                await conn.execute(
                    select(_X.run).where(_X.instance_id == instance_id).distinct().order_by(_X.run)
                )
            ).all()
        return [int(row[0]) for row in rows]


def _message_from_row(row: Any) -> StoredMessage:
    meta = row["meta"]
    return StoredMessage(
        message_id=int(row["message_id"]),
        key=WaitKey.parse(row["wait_key"]),
        data=records.payload_from_row(row, "data"),
        metadata=dict(meta) if isinstance(meta, dict) else {},
        created_at=row["created_at"],
    )
