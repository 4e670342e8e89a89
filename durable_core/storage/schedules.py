"""Storage of schedules (table ``edda_schedules``) and the firing of their ticks.

Firing a tick is one transaction: lock the schedule row (``FOR UPDATE``; SQLite's single writer), check
it is still due, read whether the instance of its last start has finished, decide with
:func:`~durable_core.scheduling.ticks.plan_fire`, insert the instances of the chosen ticks and advance
the row. The instance id derives from the schedule id and the tick time, so even a schedule deleted and
created again never starts the same tick twice: an id that exists already is not inserted again.

Every change of a schedule (create, update, pause, resume, delete) is announced with ``pg_notify`` on
the wake channel inside its transaction (PostgreSQL); the payload :data:`SCHEDULES_CHANGED` is not an
instance id, and a dispatcher that tries to claim it finds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from durable_core.scheduling.spec import Schedule, ScheduleInfo
from durable_core.scheduling.ticks import FirePlan, jitter_of, plan_fire
from durable_core.storage import records
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dialects import ErrorKind, SqlDialect
from durable_core.storage.records import utc
from durable_core.storage.schema import INSTANCES, SCHEDULES
from durable_core.types import InstanceStatus, NewInstance

__all__ = ["MAX_SCHEDULE_LIST", "SCHEDULES_CHANGED", "FireResult", "SqlSchedules"]

#: the wake-channel payload announcing that a schedule changed (never a valid instance id of ours)
SCHEDULES_CHANGED: Final = "~edda-schedules-changed"
MAX_SCHEDULE_LIST: Final = 1000
_S = SCHEDULES.c
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class FireResult:
    """What firing one schedule did: the instances it created and the plan it followed."""

    schedule_id: str
    created: tuple[NewInstance, ...]
    plan: FirePlan


def _opt(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def info_from_row(row: Mapping[Any, Any]) -> ScheduleInfo:
    """A :class:`ScheduleInfo` from an ``edda_schedules`` row."""
    every = row["every_us"]
    spec = Schedule(
        cron=row["cron"],
        every=None if every is None else int(every) * _US,
        args=dict(row["args"] or {}),
        timezone=row["timezone"],
        overlap=row["overlap"],
        catch_up=row["catch_up"],
        jitter=int(row["jitter_us"]) * _US,
    )
    return ScheduleInfo(
        schedule_id=row["schedule_id"],
        workflow_name=row["workflow_name"],
        spec=spec,
        paused=bool(row["paused"]),
        next_tick_at=utc(row["next_tick_at"]),
        next_fire_at=utc(row["next_fire_at"]),
        last_fire_at=_opt(row["last_fire_at"]),
        last_instance_id=row["last_instance_id"],
        buffered_tick_at=_opt(row["buffered_tick_at"]),
        declared=bool(row["declared"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def spec_values(workflow_name: str, spec: Schedule) -> dict[str, Any]:
    """The definition columns of a schedule."""
    return {
        "workflow_name": workflow_name,
        "cron": spec.cron,
        "every_us": None if spec.every is None else spec.every // _US,
        "timezone": spec.timezone,
        "overlap": spec.overlap.value,
        "catch_up": spec.catch_up.value,
        "jitter_us": spec.jitter // _US,
        "args": dict(spec.args) or None,
    }


def info_values(info: ScheduleInfo) -> dict[str, Any]:
    """Every column of ``info``."""
    return {
        "schedule_id": info.schedule_id,
        **spec_values(info.workflow_name, info.spec),
        "paused": info.paused,
        "declared": info.declared,
        "next_tick_at": info.next_tick_at,
        "next_fire_at": info.next_fire_at,
        "last_fire_at": info.last_fire_at,
        "last_instance_id": info.last_instance_id,
        "buffered_tick_at": info.buffered_tick_at,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
    }


#: advance one fired schedule (executed for every schedule of a fire in one round trip)
_FIRED_UPDATE: Final = (
    update(SCHEDULES)
    .where(_S.schedule_id == bindparam("b_schedule_id"))
    .values(
        {
            column: bindparam(f"b_{column}", type_=_S[column].type)
            for column in (
                "next_tick_at",
                "next_fire_at",
                "last_fire_at",
                "last_instance_id",
                "buffered_tick_at",
            )
        }
    )
)


def _fired_params(info: ScheduleInfo, plan: FirePlan, news: Sequence[NewInstance]) -> dict[str, Any]:
    fire_at = plan.next_tick + jitter_of(info.schedule_id, info.spec, plan.next_tick)
    return {
        "b_schedule_id": info.schedule_id,
        "b_next_tick_at": plan.next_tick,
        "b_next_fire_at": fire_at if plan.next_tick != info.next_tick_at else info.next_fire_at,
        "b_last_fire_at": plan.fire[-1] if news else info.last_fire_at,
        "b_last_instance_id": news[-1].instance_id if news else info.last_instance_id,
        "b_buffered_tick_at": plan.buffered,
    }


class SqlSchedules:
    """Schedules on the engine's database (get it with ``SqlStorage.schedules()``)."""

    def __init__(self, conns: Connections, dialect: SqlDialect) -> None:
        self._conns = conns
        self._dialect = dialect

    def _locked(self, schedule_id: str) -> Any:
        stmt = select(SCHEDULES).where(_S.schedule_id == schedule_id)
        return self._dialect.lock_rows(stmt, self._conns.engine.dialect)

    # -- reading -------------------------------------------------------------------------------------
    @guarded()
    async def get(self, schedule_id: str) -> ScheduleInfo | None:
        """One schedule, or None."""
        async with self._conns.read() as conn:
            row = (await conn.execute(select(SCHEDULES).where(_S.schedule_id == schedule_id))).first()
        return None if row is None else info_from_row(row._mapping)

    @guarded()
    async def list_all(self, workflow_name: str | None = None, limit: int = 100) -> list[ScheduleInfo]:
        """Schedules ordered by id (of ``workflow_name`` when given), at most ``limit`` (1..1000)."""
        if type(limit) is not int or not 1 <= limit <= MAX_SCHEDULE_LIST:
            raise ValueError(f"limit must be an int from 1 to {MAX_SCHEDULE_LIST}, got {limit!r}")
        stmt = select(SCHEDULES)
        if workflow_name is not None:
            stmt = stmt.where(_S.workflow_name == workflow_name)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt.order_by(_S.schedule_id).limit(limit))).all()
        return [info_from_row(row._mapping) for row in rows]

    @guarded()
    async def upcoming(self, workflow_names: frozenset[str], limit: int) -> list[tuple[str, datetime]]:
        """(id, next fire time) of the unpaused schedules of these workflows that fire first."""
        if not workflow_names:
            return []
        stmt = (
            select(_S.schedule_id, _S.next_fire_at)
            .where(_S.paused.is_(False), _S.workflow_name.in_(sorted(workflow_names)))
            .order_by(_S.next_fire_at, _S.schedule_id)
            .limit(limit)
        )
        async with self._conns.read() as conn:
            return [(row[0], utc(row[1])) for row in (await conn.execute(stmt)).all()]

    @guarded()
    async def buffered(self, workflow_names: frozenset[str]) -> list[tuple[str, str | None]]:
        """(schedule id, last instance id) of unpaused schedules holding a buffered tick."""
        if not workflow_names:
            return []
        stmt = (
            select(_S.schedule_id, _S.last_instance_id)
            .where(
                _S.paused.is_(False),
                _S.buffered_tick_at.is_not(None),
                _S.workflow_name.in_(sorted(workflow_names)),
            )
            .limit(MAX_SCHEDULE_LIST)
        )
        async with self._conns.read() as conn:
            return [(row[0], row[1]) for row in (await conn.execute(stmt)).all()]

    # -- changing ------------------------------------------------------------------------------------
    @guarded()
    async def insert(self, info: ScheduleInfo) -> ScheduleInfo | None:
        """Insert ``info``; when its id exists, change nothing and return the stored one."""
        try:
            async with self._conns.write() as conn:
                row = (await conn.execute(self._locked(info.schedule_id))).first()
                if row is not None:
                    return info_from_row(row._mapping)
                await conn.execute(insert(SCHEDULES).values(**info_values(info)))
                await self._dialect.notify_wake(conn, [SCHEDULES_CHANGED])
        except IntegrityError as exc:  # inserted concurrently (two processes starting at once)
            if self._dialect.classify(exc) is not ErrorKind.UNIQUE_VIOLATION:
                raise
            return await self.get(info.schedule_id)
        return None

    @guarded()
    async def change(
        self, schedule_id: str, change: Callable[[ScheduleInfo], ScheduleInfo | None]
    ) -> ScheduleInfo | None:
        """Apply ``change`` to the locked row; it returns the new state, or None to delete the row.

        Returns:
            The new state; None when the id is unknown or the row was deleted.
        """
        async with self._conns.write() as conn:
            row = (await conn.execute(self._locked(schedule_id))).first()
            if row is None:
                return None
            new = change(info_from_row(row._mapping))
            if new is None:
                await conn.execute(delete(SCHEDULES).where(_S.schedule_id == schedule_id))
            else:
                values = info_values(new)
                del values["schedule_id"]
                await conn.execute(update(SCHEDULES).where(_S.schedule_id == schedule_id).values(**values))
            await self._dialect.notify_wake(conn, [SCHEDULES_CHANGED])
        return new

    @guarded()
    async def delete_declared(self, workflow_names: Sequence[str], keep: Sequence[str]) -> int:
        """Delete declared schedules of these workflows whose ids are not in ``keep``."""
        if not workflow_names:
            return 0
        stmt = delete(SCHEDULES).where(
            and_(_S.declared.is_(True), _S.workflow_name.in_(sorted(workflow_names)))
        )
        if keep:
            stmt = stmt.where(_S.schedule_id.not_in(sorted(keep)))
        async with self._conns.write() as conn:
            deleted = int((await conn.execute(stmt)).rowcount or 0)
            if deleted:
                await self._dialect.notify_wake(conn, [SCHEDULES_CHANGED])
        return deleted

    # -- firing --------------------------------------------------------------------------------------
    @guarded()
    async def fire(
        self,
        schedule_ids: Sequence[str],
        now: datetime,
        build: Callable[[ScheduleInfo, datetime], NewInstance],
        *,
        manual: datetime | None = None,
    ) -> list[FireResult]:
        """Start what is due of these schedules at ``now``, in one transaction (rows locked in id order).

        ``manual``: start that tick now, whatever is due. A buffered tick counts as due (it starts once
        the instance it waits for has finished). ``build(info, tick)`` makes the instance of a tick.
        Schedules that are unknown, paused or (not manual) not due - another process fired them
        first - have no result.
        """
        ids = sorted(set(schedule_ids))
        stmt = self._dialect.lock_rows(
            select(SCHEDULES).where(_S.schedule_id.in_(ids)).order_by(_S.schedule_id),
            self._conns.engine.dialect,
        )
        async with self._conns.write() as conn:
            infos = [info_from_row(row._mapping) for row in (await conn.execute(stmt)).all()]
            if manual is None:
                infos = [i for i in infos if not i.paused and (i.next_fire_at <= now or i.buffered_tick_at)]
            if not infos:
                return []
            running = await self._running(conn, [i.last_instance_id for i in infos if i.last_instance_id])
            fired = [(info, self._plan(info, now, manual, running)) for info in infos]
            news = {info.schedule_id: [build(info, tick) for tick in plan.fire] for info, plan in fired}
            created = await self._create(conn, [n for group in news.values() for n in group])
            created_ids = {n.instance_id for n in created}
            await conn.execute(
                _FIRED_UPDATE, [_fired_params(info, plan, news[info.schedule_id]) for info, plan in fired]
            )
            results = [
                FireResult(
                    info.schedule_id,
                    tuple(n for n in news[info.schedule_id] if n.instance_id in created_ids),
                    plan,
                )
                for info, plan in fired
            ]
            unleased = [n.instance_id for n in created if n.lease_owner is None]
            if unleased:  # leased ones run here; the others are announced to every process
                await self._dialect.notify_wake(conn, unleased)
        return results

    @staticmethod
    def _plan(info: ScheduleInfo, now: datetime, manual: datetime | None, running: set[str]) -> FirePlan:
        if manual is not None:
            return FirePlan((manual,), info.buffered_tick_at, info.next_tick_at, 0)
        return plan_fire(info, now, info.last_instance_id in running)

    @staticmethod
    async def _running(conn: Any, instance_ids: Sequence[str]) -> set[str]:
        """Those of the instances that exist and have not finished."""
        if not instance_ids:
            return set()
        stmt = select(INSTANCES.c.instance_id, INSTANCES.c.status).where(
            INSTANCES.c.instance_id.in_(sorted(set(instance_ids)))
        )
        rows = (await conn.execute(stmt)).all()
        return {row[0] for row in rows if not InstanceStatus(row[1]).is_finished}

    async def _create(self, conn: Any, news: Sequence[NewInstance]) -> list[NewInstance]:
        """Insert the instances whose ids do not exist yet; return them."""
        if not news:
            return []
        ids = [n.instance_id for n in news]
        existing = {
            row[0]
            for row in (
                await conn.execute(select(INSTANCES.c.instance_id).where(INSTANCES.c.instance_id.in_(ids)))
            ).all()
        }
        created = [new for new in news if new.instance_id not in existing]
        if created:
            await conn.execute(insert(INSTANCES), [records.new_instance_values(new) for new in created])
        return created
