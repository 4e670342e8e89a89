"""Run-control statements (retry, fork, pause, unpause, terminate), each one locked transaction.

Every action locks the instance row (``FOR UPDATE``), decides from what it finds, writes, and appends
its entry to ``edda_control_log`` in the same transaction. How each one stays safe against a worker
that still runs (or believes it runs) the instance:

* retry, fork and terminate bump ``lease_epoch`` / create a new row: every fenced write of an older run
  (history, attempts, status) matches nothing any more, so no stale worker can undo them;
* pause and unpause only write the ``paused`` flag, which no worker ever writes. A paused instance is
  not claimable (:func:`~durable_core.storage.leases.runnable`); a run that holds it learns of the
  flag from the lease renewal (or at once in the same process) and stops at its next step boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, insert, literal, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from durable_core.errors import InstanceConflictError, InstanceNotFoundError, RunControlError
from durable_core.run_control import (
    PAUSABLE_STATUSES,
    ControlAction,
    ControlEntry,
    ControlOutcome,
    RetrySpec,
    TerminateSpec,
)
from durable_core.storage import records
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.delivery import Delivery
from durable_core.storage.dialects import ErrorKind, SqlDialect
from durable_core.storage.schema import ATTEMPTS, CONTROL_LOG, HISTORY, INSTANCES
from durable_core.storage.singleton import SingletonLine
from durable_core.types import (
    NO_PAYLOAD,
    ErrorInfo,
    InstanceStatus,
    JsonValue,
    NewInstance,
    OutgoingMessage,
    StepKind,
    StepOutcome,
    WaitKey,
    WaitKind,
)

__all__ = ["SqlRunControl", "failed_position"]

_I = INSTANCES.c
_H = HISTORY.c
_L = CONTROL_LOG.c
_MAX_LOG: Final = 1000


def failed_position(
    entries: Sequence[tuple[int, str, str, ErrorInfo | None]], error: ErrorInfo | None
) -> int | None:
    """The history position of the step a FAILED instance failed at, or None (its code raised).

    Args:
        entries: ``(position, kind, outcome, error)`` of every history entry, in position order.
        error: the error the instance failed with.

    It is the last failed activity whose recorded error is the instance's error (the exception the
    body let through); failing that, a failed activity that is the last entry. Earlier failures the
    workflow caught stay in the history: replay must keep taking the branch it took.
    """
    failed = [e for e in entries if e[1] == StepKind.ACTIVITY.value and e[2] == StepOutcome.ERROR.value]
    if error is not None:
        for position, _, _, recorded in reversed(failed):
            if recorded is not None and (recorded.type_name, recorded.message) == (
                error.type_name,
                error.message,
            ):
                return position
    if failed and entries and failed[-1][0] == entries[-1][0]:
        return failed[-1][0]
    return None


class SqlRunControl:
    """The run-control statements of one database (see the module docstring)."""

    def __init__(self, conns: Connections, dialect: SqlDialect) -> None:
        self._conns = conns
        self._dialect = dialect
        self._delivery = Delivery(dialect)

    # -- helpers ---------------------------------------------------------------------------------------
    async def _lock(self, conn: AsyncConnection, instance_id: str) -> Row[Any]:
        stmt = self._dialect.lock_rows(select(INSTANCES).where(_I.instance_id == instance_id), conn.dialect)
        row: Row[Any] | None = (await conn.execute(stmt)).first()
        if row is None:
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        return row

    @staticmethod
    async def _journal(
        conn: AsyncConnection,
        instance_id: str,
        action: ControlAction,
        by: str,
        reason: str,
        now: datetime,
        detail: dict[str, JsonValue],
    ) -> None:
        values = {"instance_id": instance_id, "action": action.value, "actor": by, "reason": reason}
        await conn.execute(insert(CONTROL_LOG).values(**values, at=now, detail=detail))

    @staticmethod
    async def _last_action(conn: AsyncConnection, instance_id: str) -> ControlAction | None:
        stmt = select(_L.action).where(_L.instance_id == instance_id).order_by(_L.seq.desc()).limit(1)
        value = (await conn.execute(stmt)).scalar()
        return None if value is None else ControlAction(value)

    # -- retry -----------------------------------------------------------------------------------------
    @guarded()
    async def retry(self, instance_id: str, spec: RetrySpec) -> tuple[ControlOutcome, int | None]:
        """Make a FAILED, uncompensated instance runnable again from its failed step.

        Returns:
            The outcome and the position of the step that runs again (None: the code failed after
            the last step; the run continues after it).

        Raises:
            InstanceNotFoundError / RunControlError (not failed, or compensated).
        """
        async with self._conns.write() as conn:
            row = (await self._lock(conn, instance_id))._mapping
            status = InstanceStatus(row["status"])
            if status is not InstanceStatus.FAILED:
                if (
                    status is not InstanceStatus.CANCELLED
                    and await self._last_action(conn, instance_id) is ControlAction.RETRY
                ):
                    return ControlOutcome.ALREADY_APPLIED, None
                raise RunControlError(_not_retryable(instance_id, status), instance_id, "retry", status.value)
            await self._retake_singleton(conn, instance_id, row)
            position, removed = await self._rewind(conn, instance_id, row, spec)
            detail: dict[str, JsonValue] = {"position": position, "removed": list(removed)}
            await self._journal(
                conn, instance_id, ControlAction.RETRY, spec.by, spec.reason, spec.now, detail
            )
        return ControlOutcome.APPLIED, position

    async def _retake_singleton(self, conn: AsyncConnection, instance_id: str, row: Any) -> None:
        """A retried singleton run holds its key again; refused while another unfinished run holds it."""
        key = row["singleton_key"]
        if key is None:
            return
        holder = await SingletonLine(self._conns, self._dialect).retake(
            conn, row["workflow_name"], key, instance_id
        )
        if holder is not None:
            raise RunControlError(
                f"instance {instance_id!r} gave its singleton key {key!r} to {holder!r}, which has not "
                "finished: retry it once that one finished (or start a new run)",
                instance_id,
                "retry",
                InstanceStatus.FAILED.value,
            )

    async def _rewind(
        self, conn: AsyncConnection, instance_id: str, row: Any, spec: RetrySpec
    ) -> tuple[int | None, list[int]]:
        """Drop the failed step(s) and the attempt counters from there on; make the instance runnable."""
        stmt = select(_H.position, _H.kind, _H.outcome, _H.error).where(_H.instance_id == instance_id)
        entries = [
            (int(r[0]), str(r[1]), str(r[2]), records.error_from_json(r[3]))
            for r in (await conn.execute(stmt.order_by(_H.position))).all()
        ]
        if any(kind == StepKind.COMPENSATION.value for _, kind, _, _ in entries):
            raise RunControlError(
                f"instance {instance_id!r} failed and ran its compensations: it was rolled back and "
                "cannot be retried; start it again (or fork it before the failed step)",
                instance_id,
                "retry",
                InstanceStatus.FAILED.value,
            )
        position = failed_position(entries, records.error_from_json(row["error"]))
        first_fresh = position if position is not None else (entries[-1][0] + 1 if entries else 0)
        failed = (StepKind.ACTIVITY.value, StepOutcome.ERROR.value)
        removed = [p for p, kind, outcome, _ in entries if p >= first_fresh and (kind, outcome) == failed]
        if removed:
            await conn.execute(delete(HISTORY).where(_H.instance_id == instance_id, _H.position.in_(removed)))
        stale_attempts = or_(ATTEMPTS.c.position >= first_fresh, ATTEMPTS.c.position < 0)
        await conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.instance_id == instance_id, stale_attempts))
        await conn.execute(
            update(INSTANCES)
            .where(_I.instance_id == instance_id)
            .values(
                status=InstanceStatus.RUNNING.value,
                **records.payload_values("output", NO_PAYLOAD),
                error=None,
                finished_at=None,
                blocked_reason=None,
                wake_at=None,
                deadline_at=_deadline_again(spec, row),
                lease_owner=None,
                lease_expires_at=None,
                lease_epoch=_I.lease_epoch + 1,  # fences out any run of the failed attempt
                updated_at=spec.now,
            )
        )
        return position, removed

    # -- pause / unpause -------------------------------------------------------------------------------
    @guarded()
    async def set_paused(
        self, instance_id: str, paused: bool, by: str, reason: str, now: datetime
    ) -> ControlOutcome:
        """Pause (``paused=True``) or unpause an instance; see the module docstring.

        Raises:
            InstanceNotFoundError / RunControlError (pausing a finished, blocked or unknown-outcome one).
        """
        action = ControlAction.PAUSE if paused else ControlAction.UNPAUSE
        async with self._conns.write() as conn:
            row = (await self._lock(conn, instance_id))._mapping
            status = InstanceStatus(row["status"])
            if bool(row["paused"]) == paused:
                return ControlOutcome.ALREADY_APPLIED
            if paused and status not in PAUSABLE_STATUSES:
                raise RunControlError(
                    f"instance {instance_id!r} is {status.value}: only pending, running, waiting or "
                    "compensating instances can be paused",
                    instance_id,
                    action.value,
                    status.value,
                )
            values: dict[str, Any] = {"paused": paused, "updated_at": now}
            if not paused and status is InstanceStatus.WAITING:
                values["wake_at"] = now  # look at the mailbox and the timers that fell due meanwhile
            await conn.execute(update(INSTANCES).where(_I.instance_id == instance_id).values(**values))
            await self._journal(conn, instance_id, action, by, reason, now, {"status": status.value})
        return ControlOutcome.APPLIED

    # -- terminate -------------------------------------------------------------------------------------
    @guarded()
    async def terminate(
        self, instance_id: str, spec: TerminateSpec
    ) -> tuple[ControlOutcome, tuple[str, ...]]:
        """End an unfinished instance as FAILED at once: no compensations, every lease fenced out.

        Returns:
            The outcome and the parent instance woken by the end of this (child) instance.

        Raises:
            InstanceNotFoundError / RunControlError (it already completed, failed or was cancelled).
        """
        async with self._conns.write() as conn:
            parent = (
                await conn.execute(select(_I.parent_instance_id).where(_I.instance_id == instance_id))
            ).scalar()
            key = WaitKey(WaitKind.CHILD, instance_id)
            if parent is not None:  # the same lock order as a child finishing: key, then row
                await self._dialect.lock_keys(conn, [key.token])
            row = (await self._lock(conn, instance_id))._mapping
            status = InstanceStatus(row["status"])
            if status.is_finished:
                if (
                    status is InstanceStatus.FAILED
                    and await self._last_action(conn, instance_id) is ControlAction.TERMINATE
                ):
                    return ControlOutcome.ALREADY_APPLIED, ()
                raise RunControlError(
                    f"instance {instance_id!r} is already {status.value}; there is nothing to terminate",
                    instance_id,
                    "terminate",
                    status.value,
                )
            await conn.execute(
                update(INSTANCES)
                .where(_I.instance_id == instance_id)
                .values(
                    status=InstanceStatus.FAILED.value,
                    error=records.error_to_json(spec.error),
                    finished_at=spec.now,
                    updated_at=spec.now,
                    wake_at=None,
                    blocked_reason=None,
                    paused=False,
                    lease_owner=None,
                    lease_expires_at=None,
                    lease_epoch=_I.lease_epoch + 1,
                )
            )
            shown = records.shown_status(status, bool(row["paused"]))
            detail: dict[str, JsonValue] = {"status": shown.value, "lease_owner": row["lease_owner"]}
            await self._journal(
                conn, instance_id, ControlAction.TERMINATE, spec.by, spec.reason, spec.now, detail
            )
            woken = await self._tell_parent(conn, parent, key, spec)
            if (singleton := row["singleton_key"]) is not None:  # a holder hands its key on as it ends
                line = SingletonLine(self._conns, self._dialect)
                handed = await line.hand_over(conn, row["workflow_name"], singleton, instance_id, spec.now)
                woken += (handed,) if handed is not None else ()
        return ControlOutcome.APPLIED, woken

    async def _tell_parent(
        self, conn: AsyncConnection, parent: str | None, key: WaitKey, spec: TerminateSpec
    ) -> tuple[str, ...]:
        """Deliver a terminated child's end to its parent, as a failing child's run would."""
        if parent is None:
            return ()
        error: dict[str, JsonValue] = {"type_name": spec.error.type_name, "message": spec.error.message}
        meta: dict[str, JsonValue] = {
            "status": InstanceStatus.FAILED.value,
            "error": error,
            "cancel_reason": None,
        }
        message = OutgoingMessage(key=key, data=NO_PAYLOAD, metadata=meta, target_instance_id=parent)
        try:
            result = await self._delivery.deliver_locked(conn, message, spec.now)
        except InstanceNotFoundError:  # the parent was purged: nobody to tell
            return ()
        await self._dialect.notify_wake(conn, result.woken)
        return result.woken

    # -- fork ------------------------------------------------------------------------------------------
    @guarded()
    async def fork(self, new: NewInstance, source_id: str, at: int, by: str, reason: str) -> ControlOutcome:
        """Create ``new`` with a copy of ``source_id``'s history before position ``at``.

        Raises:
            InstanceNotFoundError: no source. InstanceConflictError: ``new``'s id names another instance.
        """
        for _ in range(3):
            existing = await self._existing_fork(new.instance_id, source_id, at)
            if existing is not None:
                return existing
            try:
                async with self._conns.write() as conn:
                    await self._copy(conn, new, source_id, at, by, reason)
                return ControlOutcome.APPLIED
            except Exception as exc:  # a concurrent fork with the same id won: look at it again
                if self._dialect.classify(exc) is not ErrorKind.UNIQUE_VIOLATION:
                    raise
        raise RuntimeError(f"instance {new.instance_id!r} kept appearing and disappearing while forking")

    async def _existing_fork(self, new_id: str, source_id: str, at: int) -> ControlOutcome | None:
        async with self._conns.read() as conn:
            stmt = select(_I.forked_from, _I.forked_at).where(_I.instance_id == new_id)
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        if (row[0], row[1]) == (source_id, at):
            return ControlOutcome.ALREADY_APPLIED
        raise InstanceConflictError(
            f"instance id {new_id!r} already exists and is not the fork of {source_id!r} at position {at}; "
            "use another new_instance_id"
        )

    async def _copy(
        self, conn: AsyncConnection, new: NewInstance, source_id: str, at: int, by: str, reason: str
    ) -> None:
        await self._lock(conn, source_id)  # the source exists and keeps existing while it is copied
        values = records.new_instance_values(new)
        # epoch 1, not 0: a run claiming epoch 1 takes it for a first run with no history to read
        values.update(forked_from=source_id, forked_at=at, lease_epoch=1)
        await conn.execute(insert(INSTANCES).values(**values))
        columns = [c.name for c in HISTORY.columns]
        copied = select(*[literal(new.instance_id) if c == "instance_id" else _H[c] for c in columns]).where(
            _H.instance_id == source_id, _H.position < at
        )
        await conn.execute(insert(HISTORY).from_select(columns, copied))
        origin: dict[str, JsonValue] = {"forked_from": source_id, "forked_at": at}
        await self._journal(conn, new.instance_id, ControlAction.FORK, by, reason, new.now, origin)
        fork: dict[str, JsonValue] = {"fork": new.instance_id, "forked_at": at}
        await self._journal(conn, source_id, ControlAction.FORK, by, reason, new.now, fork)

    # -- journal ---------------------------------------------------------------------------------------
    @guarded()
    async def control_log(self, instance_id: str, limit: int = 100) -> list[ControlEntry]:
        """The journaled run-control actions of an instance, oldest first (at most ``limit``, 1..1000)."""
        if type(limit) is not int or not 1 <= limit <= _MAX_LOG:
            raise ValueError(f"limit must be an int between 1 and {_MAX_LOG}, got {limit!r}")
        stmt = select(CONTROL_LOG).where(_L.instance_id == instance_id).order_by(_L.seq).limit(limit)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            ControlEntry(
                instance_id=r.instance_id,
                seq=int(r.seq),
                action=ControlAction(r.action),
                by=r.actor,
                reason=r.reason,
                at=records.utc(r.at),
                detail=dict(r.detail or {}),
            )
            for r in rows
        ]


def _deadline_again(spec: RetrySpec, row: Any) -> datetime | None:
    """The retried run's deadline: the engine's (from the workflow's timeout), else the same timeout again."""
    if spec.deadline_at is not None or row["deadline_at"] is None:
        return spec.deadline_at
    timeout = records.utc(row["deadline_at"]) - records.utc(row["created_at"])
    return spec.now + timeout


def _not_retryable(instance_id: str, status: InstanceStatus) -> str:
    if status is InstanceStatus.CANCELLED:
        return f"instance {instance_id!r} was cancelled (and compensated); it cannot be retried"
    if status is InstanceStatus.COMPLETED:
        return f"instance {instance_id!r} completed; only a failed instance can be retried"
    return (
        f"instance {instance_id!r} is {status.value}, not failed: only a failed instance can be retried "
        "(resume a blocked one with resume(); cancel or terminate a running one first)"
    )
