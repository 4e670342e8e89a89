"""Flow control in the database: queue claims, shared rate limits, debounce and singleton keys.

Every limit is enforced by the database so it holds across processes:

* a queue claim locks the queue's row (``FOR UPDATE``), counts the queue's *executing* runs (live
  leases), ranks its runnable rows (priority, then round robin across ``queue_key``, then FIFO) and
  leases the best of them (``SKIP LOCKED`` where the dialect has it), all in one transaction;
* a rate limit's state (the next grant's theoretical arrival time) is a row locked by the transaction
  that takes grants (see :meth:`durable_core.flow.RateLimit.grant`);
* a debounce / singleton key is a row whose primary key makes two processes agree on one instance.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Update, and_, case, func, insert, literal, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from durable_core.errors import StorageUnavailableError
from durable_core.flow import QueueKeyStats, QueueStats, RateGrant, RateLimit, RateState
from durable_core.storage import leases, records
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dialects import ErrorKind, SqlDialect
from durable_core.storage.schema import FLOW_KEYS, INSTANCES, QUEUE_KEYS, QUEUES, RATE_LIMITS
from durable_core.storage.singleton import KIND as SINGLETON
from durable_core.storage.singleton import SingletonLine
from durable_core.types import FINISHED_STATUSES, ClaimedInstance, InstanceStatus, NewInstance

__all__ = ["FlowStart", "Now", "QueueClaim", "QueueRow", "SqlFlow"]

_I, _Q, _R, _K, _S = INSTANCES.c, QUEUES.c, RATE_LIMITS.c, FLOW_KEYS.c, QUEUE_KEYS.c
_FINISHED: Final = sorted(s.value for s in FINISHED_STATUSES)
_WAITING: Final = InstanceStatus.WAITING.value
_QUEUED: Final = InstanceStatus.QUEUED.value
#: candidates ranked per claim beyond the free slots (rows of keys at their limit are skipped)
RANK_SLACK: Final = 32
#: admissions recorded per statement (3 parameters each: well within every driver's limit)
ADMIT_CHUNK: Final = 200
#: the time of a claim or take: a clock is read only once the limiter's row is locked, because waiting
#: for a connection or the lock can take long on a busy database, and a grant "for now" computed before
#: would already be in the past when it is used (its run would then start later than granted)
Now = datetime | Callable[[], datetime]
KEY_RACE_RETRIES: Final = 5
STATS_KEYS: Final = 100


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue's stored settings (what every process enforces)."""

    name: str
    concurrency: int | None
    per_key_concurrency: int | None
    rate_limit: RateLimit | None
    priority: bool


@dataclass(frozen=True, slots=True)
class QueueClaim:
    """What one queue claim leased, and when a start held back by a rate limit may be admitted.

    Attributes:
        claimed: the leased instances.
        start_at: per instance id, the time a rate-limited start was granted for (run it then, not before).
        retry_at: when the next rate-limited start may be granted (None: nothing held back).
    """

    claimed: tuple[ClaimedInstance, ...]
    retry_at: datetime | None
    start_at: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FlowStart:
    """Outcome of a debounced / singleton start.

    Attributes:
        instance_id: the id the caller gets (the key's holder, or the new instance).
        created: a new instance was stored.
        queued: it was stored QUEUED behind the key's holder (``on_conflict="queue"``).
        handed_to: an instance this start made runnable by handing it the key of a finished holder.
    """

    instance_id: str
    created: bool
    queued: bool = False
    handed_to: str | None = None


def _executing(now: datetime) -> Any:
    """Rows holding a live lease (a slot)."""
    return and_(_I.lease_owner.is_not(None), not_(leases.lease_free(now)))


def _read(now: Now) -> datetime:
    return now() if callable(now) else now


def _queue_row(row: Any) -> QueueRow:
    m = row._mapping
    rate = None
    if m["rate_count"] is not None:
        per = timedelta(microseconds=int(m["rate_per_us"]))
        rate = RateLimit(int(m["rate_count"]), per=per, burst=int(m["rate_burst"] or 1))
    return QueueRow(m["name"], m["concurrency"], m["per_key_concurrency"], rate, bool(m["priority"]))


class SqlFlow:
    """The flow-control statements of one :class:`~durable_core.storage.sql.SqlStorage`."""

    def __init__(self, conns: Connections, dialect: SqlDialect) -> None:
        self._conns = conns
        self._dialect = dialect

    def _lock(self, stmt: Any, *, skip_locked: bool = False) -> Any:
        return self._dialect.lock_rows(stmt, self._conns.engine.dialect, skip_locked=skip_locked)

    # -- configuration -------------------------------------------------------------------------------
    @guarded()
    async def sync_queue(self, queue: QueueRow, now: datetime) -> None:
        """Store (insert or update) a queue's settings; its rate limiter state is kept."""
        rate = queue.rate_limit
        values = {
            "concurrency": queue.concurrency,
            "per_key_concurrency": queue.per_key_concurrency,
            "rate_count": rate.count if rate else None,
            "rate_per_us": rate.per // timedelta(microseconds=1) if rate else None,
            "rate_burst": rate.burst if rate else None,
            "priority": queue.priority,
            "updated_at": now,
        }
        await self._upsert(QUEUES, _Q.name == queue.name, {"name": queue.name}, values)

    @guarded()
    async def sync_rate_limit(self, name: str) -> None:
        """Make sure the state row of a named rate limit exists."""
        await self._upsert(RATE_LIMITS, _R.name == name, {"name": name, "state": None}, {})

    async def _upsert(self, table: Any, where: Any, key: dict[str, Any], values: dict[str, Any]) -> None:
        for _ in range(KEY_RACE_RETRIES):
            async with self._conns.write() as conn:
                if values and (await conn.execute(update(table).where(where).values(**values))).rowcount:
                    return
                if (await conn.execute(select(func.count()).select_from(table).where(where))).scalar():
                    return
            try:
                async with self._conns.write() as conn:
                    await conn.execute(insert(table).values(**key, **values))
                return
            except Exception as exc:  # another process inserted it first: update that row instead
                if self._dialect.classify(exc) is not ErrorKind.UNIQUE_VIOLATION:
                    raise
        raise StorageUnavailableError(f"could not store {table.name} row {key!r}")

    @guarded()
    async def queues(self) -> list[QueueRow]:
        """Every stored queue, by name."""
        async with self._conns.read() as conn:
            rows = (await conn.execute(select(QUEUES).order_by(_Q.name))).all()
        return [_queue_row(row) for row in rows]

    # -- claims --------------------------------------------------------------------------------------
    @guarded()
    async def claim(
        self,
        queue: str,
        owner: str,
        now: Now,
        lease_ttl: timedelta,
        limit: int,
        workflow_names: frozenset[str],
        horizon: timedelta = timedelta(0),
    ) -> QueueClaim:
        """Lease up to ``limit`` runnable instances of ``queue`` within its limits, in one transaction.

        Rate-limited starts may be granted up to ``horizon`` ahead, each for its own time
        (:attr:`QueueClaim.start_at`), so the rate does not depend on how fast claims come. ``now``
        may be a clock: it is then read once the queue's row is locked (see :data:`Now`).
        """
        if limit < 1 or not workflow_names:
            return QueueClaim((), None)
        async with self._conns.write() as conn:
            qrow = (await conn.execute(self._lock(select(QUEUES).where(_Q.name == queue)))).first()
            if qrow is None:
                return QueueClaim((), None)
            now = _read(now)
            # cancelled before they ever started: no slot needed to record the cancellation
            picked = await self._cancelled_unstarted(conn, queue, now, limit, workflow_names)
            old = RateState.from_json(qrow._mapping["rate_state"])
            admitted: dict[str, datetime] = {}
            state, retry_at = old, None
            if len(picked) < limit:
                taken = {r._mapping["instance_id"] for r in picked}
                more, admitted, state, retry_at = await self._pick_within_limits(
                    conn, _queue_row(qrow), limit - len(picked), workflow_names, (now, horizon), old, taken
                )
                picked += more
            for chunk in _chunks(sorted(admitted), ADMIT_CHUNK):
                await conn.execute(_admission_update({iid: admitted[iid] for iid in chunk}))
            if picked:
                await self._served(conn, queue, {r._mapping["queue_key"] or "" for r in picked}, now)
                ids = [r._mapping["instance_id"] for r in picked]
                await conn.execute(leases.claim_update(ids, owner, now, lease_ttl))
            if state != old:
                await conn.execute(update(QUEUES).where(_Q.name == queue).values(rate_state=state.to_json()))
        claimed = tuple(leases.claimed(row, owner, now, lease_ttl) for row in picked)
        return QueueClaim(claimed, retry_at, {iid: at for iid, at in admitted.items() if at > now})

    async def _cancelled_unstarted(
        self, conn: AsyncConnection, queue: str, now: datetime, limit: int, workflow_names: frozenset[str]
    ) -> list[Any]:
        stmt = (
            select(INSTANCES)
            .where(
                _I.queue_name == queue,
                _I.cancel_requested.is_(True),
                _I.queue_admitted_at.is_(None),
                leases.runnable(now),
                leases.lease_free(now),
                _I.workflow_name.in_(sorted(workflow_names)),
            )
            .limit(limit)
        )
        return list((await conn.execute(self._lock(stmt, skip_locked=True))).all())

    async def _pick_within_limits(
        self,
        conn: AsyncConnection,
        config: QueueRow,
        limit: int,
        workflow_names: frozenset[str],
        when: tuple[datetime, timedelta],
        state: RateState,
        taken: set[str],
    ) -> tuple[list[Any], dict[str, datetime], RateState, datetime | None]:
        """Rank the queue's claimable rows and pick those its concurrency, keys and rate allow."""
        now = when[0]
        running = await self._running_by_key(conn, config.name, now)
        budget = limit
        if config.concurrency is not None:
            budget = min(budget, config.concurrency - sum(running.values()))
        if budget <= 0:
            return [], {}, state, None
        ranked = await self._ranked(conn, config, running, now, budget + RANK_SLACK, workflow_names)
        if not ranked:
            return [], {}, state, None
        stmt = select(INSTANCES).where(
            _I.instance_id.in_(ranked), leases.runnable(now), leases.lease_free(now)
        )
        rows = await conn.execute(self._lock(stmt, skip_locked=True))
        locked = {r._mapping["instance_id"]: r for r in rows if r._mapping["instance_id"] not in taken}
        return _pick(config, running, ranked, locked, budget, when, state)

    async def _served(self, conn: AsyncConnection, queue: str, keys: set[str], now: datetime) -> None:
        """Note when these keys got a slot (claims of the queue are serialized by its row lock)."""
        for key in sorted(keys):
            where = and_(_S.queue_name == queue, _S.queue_key == key)
            if not (await conn.execute(update(QUEUE_KEYS).where(where).values(served_at=now))).rowcount:
                await conn.execute(insert(QUEUE_KEYS).values(queue_name=queue, queue_key=key, served_at=now))

    async def _running_by_key(
        self, conn: AsyncConnection, queue: str, now: datetime
    ) -> dict[str | None, int]:
        stmt = (
            select(_I.queue_key, func.count())
            .where(_I.queue_name == queue, _executing(now))
            .group_by(_I.queue_key)
        )
        return {row[0]: int(row[1]) for row in (await conn.execute(stmt)).all()}

    async def _ranked(
        self,
        conn: AsyncConnection,
        config: QueueRow,
        running: dict[str | None, int],
        now: datetime,
        limit: int,
        workflow_names: frozenset[str],
    ) -> list[str]:
        """Ids of claimable rows, best first: priority, then round robin over keys, then FIFO."""
        fifo = [_I.created_at, _I.instance_id]
        within_key = [_I.priority.desc(), *fifo] if config.priority else fifo
        turn = func.row_number().over(partition_by=_I.queue_key, order_by=within_key).label("turn")
        key = func.coalesce(_I.queue_key, "").label("k")
        ranked = select(_I.instance_id, _I.priority, _I.created_at, turn, key).where(
            _I.queue_name == config.name,
            leases.runnable(now),
            leases.lease_free(now),
            _I.workflow_name.in_(sorted(workflow_names)),
        )
        per_key = config.per_key_concurrency
        full = sorted(k for k, n in running.items() if k is not None and per_key is not None and n >= per_key)
        if full:  # keys at their limit cannot take a slot: leave their rows out of the ranking
            ranked = ranked.where(or_(_I.queue_key.is_(None), _I.queue_key.not_in(full)))
        sub = ranked.subquery()
        # round robin: the n-th run of every key before any key's (n+1)-th; among keys, the one
        # served longest ago (or never) first
        served = sub.outerjoin(QUEUE_KEYS, and_(_S.queue_name == config.name, _S.queue_key == sub.c.k))
        never = case((_S.served_at.is_(None), 0), else_=1)
        fair = [sub.c.turn, never, _S.served_at, sub.c.created_at, sub.c.instance_id]
        order = [sub.c.priority.desc(), *fair] if config.priority else fair
        stmt = select(sub.c.instance_id).select_from(served).order_by(*order).limit(limit)
        rows = (await conn.execute(stmt)).all()
        return [row[0] for row in rows]

    # -- rate limits ---------------------------------------------------------------------------------
    @guarded()
    async def take(
        self, name: str, limit: RateLimit, now: Now, horizon: timedelta = timedelta(0)
    ) -> RateGrant:
        """Take one grant of the named rate limit for a time in ``[now, now + horizon]`` (or learn when to ask again)."""
        async with self._conns.write() as conn:
            row = (await conn.execute(self._lock(select(_R.state).where(_R.name == name)))).first()
            if row is None:
                raise StorageUnavailableError(f"rate limit {name!r} has no state row; was the app started?")
            grant = limit.grant(RateState.from_json(row[0]), _read(now), 1, horizon)
            # stored also when refused: it records that a run waits, so a late grant is made up
            await conn.execute(update(RATE_LIMITS).where(_R.name == name).values(state=grant.state.to_json()))
        return grant

    # -- debounce and singleton ----------------------------------------------------------------------
    def singleton_line(self) -> SingletonLine:
        """Singleton hand-overs and their line (see :mod:`durable_core.storage.singleton`)."""
        return SingletonLine(self._conns, self._dialect)

    @guarded()
    async def debounce(self, new: NewInstance, key: str, wake_at: datetime) -> FlowStart:
        """Start ``new`` at ``wake_at``, or replace the input of the not-yet-started instance of ``key``.

        The instance waits (not runnable) until ``wake_at``; every debounced start before then moves
        ``wake_at`` and replaces the input, so the last start's input runs, once, under the first id.
        """
        values = records.new_instance_values(new)
        values.update(status=_WAITING, wake_at=wake_at)
        moved = {k: v for k, v in values.items() if k.startswith("input")}

        async def keep(conn: AsyncConnection, held: str) -> FlowStart | None:  # not started: new input
            pending = and_(_I.instance_id == held, _I.lease_epoch == 0, _I.status == _WAITING)
            stmt = update(INSTANCES).where(pending).values(**moved, wake_at=wake_at, updated_at=new.now)
            return FlowStart(held, created=False) if (await conn.execute(stmt)).rowcount == 1 else None

        return await self._keyed("debounce", new, values, key, keep)

    @guarded()
    async def singleton(self, new: NewInstance, key: str, *, queue: bool = False) -> FlowStart:
        """Store ``new`` as the holder of ``key``, unless an unfinished instance holds it.

        Then ``queue=False`` returns the holder; ``queue=True`` stores ``new`` as QUEUED behind it (see
        :mod:`durable_core.storage.singleton`). A finished holder whose line is not empty (it finished
        before this code handed keys over) hands the key to the oldest in line first.
        """
        values = {**records.new_instance_values(new), "singleton_key": key}
        line = self.singleton_line()

        async def keep(conn: AsyncConnection, held: str) -> FlowStart | None:
            current = (await conn.execute(select(_I.status).where(_I.instance_id == held))).scalar()
            handed = None
            if current is None or current in _FINISHED:
                handed = await line.promote_next(conn, new.workflow_name, key, new.now)
                if handed is None:
                    return None  # the key is free: ``new`` takes it
                held = handed
            if not queue:
                return FlowStart(held, created=False, handed_to=handed)
            await conn.execute(insert(INSTANCES).values(**{**values, "status": _QUEUED}))
            return FlowStart(new.instance_id, created=True, queued=True, handed_to=handed)

        return await self._keyed(SINGLETON, new, values, key, keep)

    async def _keyed(
        self,
        kind: str,
        new: NewInstance,
        values: dict[str, Any],
        key: str,
        keep: Callable[[AsyncConnection, str], Awaitable[FlowStart | None]],
    ) -> FlowStart:
        """What ``keep`` says of the instance holding ``(kind, workflow, key)``, else ``new`` takes the key."""
        for _ in range(KEY_RACE_RETRIES):
            try:
                async with self._conns.write() as conn:
                    held = await self._held_key(conn, kind, new.workflow_name, key)
                    if held is not None and (kept := await keep(conn, held)) is not None:
                        return kept
                    await self._hold_key(conn, kind, new.workflow_name, key, new.instance_id, held)
                    await conn.execute(insert(INSTANCES).values(**values))
                    return FlowStart(new.instance_id, created=True)
            except Exception as exc:  # two first starts at once: the other inserted the key; look again
                if self._dialect.classify(exc) is not ErrorKind.UNIQUE_VIOLATION:
                    raise
        raise StorageUnavailableError(f"{kind} key {key!r} kept changing hands")

    async def _held_key(self, conn: AsyncConnection, kind: str, workflow: str, key: str) -> str | None:
        where = and_(_K.kind == kind, _K.workflow_name == workflow, _K.flow_key == key)
        row = (await conn.execute(self._lock(select(_K.instance_id).where(where)))).first()
        return None if row is None else str(row[0])

    async def _hold_key(
        self, conn: AsyncConnection, kind: str, workflow: str, key: str, instance_id: str, held: str | None
    ) -> None:
        """Point the key at ``instance_id`` (insert: a concurrent first holder makes it a unique violation)."""
        if held is None:
            row = {"kind": kind, "workflow_name": workflow, "flow_key": key, "instance_id": instance_id}
            await conn.execute(insert(FLOW_KEYS).values(**row))
            return
        where = and_(_K.kind == kind, _K.workflow_name == workflow, _K.flow_key == key)
        await conn.execute(update(FLOW_KEYS).where(where).values(instance_id=instance_id))

    # -- reading -------------------------------------------------------------------------------------
    @guarded()
    async def stats(self, now: datetime) -> list[QueueStats]:
        """Depth, executing runs and per-key backlog of every stored queue."""
        unfinished = and_(_I.queue_name.is_not(None), _I.status.not_in(_FINISHED))
        executing = func.sum(case((_executing(now), 1), else_=0))
        claimable = func.sum(case((and_(leases.runnable(now), leases.lease_free(now)), 1), else_=0))
        stmt = (
            select(_I.queue_name, _I.queue_key, func.count(), executing, claimable)
            .where(unfinished)
            .group_by(_I.queue_name, _I.queue_key)
        )
        async with self._conns.read() as conn:
            configs = [_queue_row(r) for r in (await conn.execute(select(QUEUES).order_by(_Q.name))).all()]
            rows = (await conn.execute(stmt)).all()
        by_queue: dict[str, list[QueueKeyStats]] = {}
        for name, key, total, running, queued in rows:
            running, queued = int(running or 0), int(queued or 0)
            by_queue.setdefault(name, []).append(QueueKeyStats(key, int(total) - running, queued, running))
        return [_stats(config, by_queue.get(config.name, [])) for config in configs]

    @guarded()
    async def admissions(self, queue: str) -> list[datetime]:
        """When each run of ``queue`` was first admitted (its start), oldest first."""
        stmt = (
            select(_I.queue_admitted_at)
            .where(_I.queue_name == queue, _I.queue_admitted_at.is_not(None))
            .order_by(_I.queue_admitted_at)
        )
        async with self._conns.read() as conn:
            return [row[0] for row in (await conn.execute(stmt)).all()]


def _pick(
    config: QueueRow,
    running: dict[str | None, int],
    ranked: Sequence[str],
    locked: dict[str, Any],
    budget: int,
    when: tuple[datetime, timedelta],
    state: RateState,
) -> tuple[list[Any], dict[str, datetime], RateState, datetime | None]:
    """Walk the ranking: skip keys at their limit, admit first starts only while the rate allows.

    Returns:
        (rows to lease, first admissions with their start times, new rate state, when to claim again).
    """
    per_key = dict(running)
    picked: list[Any] = []
    admitted: dict[str, datetime] = {}
    now, horizon = when
    rate = None if config.rate_limit is None else config.rate_limit.cursor(state, now, horizon)
    limit = config.per_key_concurrency
    refused = False
    for instance_id in ranked:
        if len(picked) >= budget:  # more work than slots: the rate limiter learns someone waits
            if rate is not None:
                rate.waiting()
            break
        row = locked.get(instance_id)
        if row is None:
            continue
        key = row._mapping["queue_key"]
        if limit is not None and key is not None and per_key.get(key, 0) >= limit:
            continue
        if row._mapping["queue_admitted_at"] is None:  # its first claim: a start, counted by the rate
            start_at = now if rate is None else None if refused else rate.take()
            if start_at is None:  # no grant within the horizon (resumes ranked after it still go)
                refused = True
                continue
            admitted[instance_id] = start_at
        picked.append(row)
        per_key[key] = per_key.get(key, 0) + 1
    if rate is None:
        return picked, admitted, state, None
    return picked, admitted, rate.state(), rate.retry_at


def _admission_update(admitted: Mapping[str, datetime]) -> Update:
    """One statement that records every admission's granted time (each may differ).

    One statement, not one per distinct time: a claim grants up to a horizon of evenly spaced times,
    and a round trip each made the MySQL claim transaction take seconds under load - longer than the
    claimer's margin before the next grant, so grants were lost (bench/README.md, MySQL queue rate).
    """
    times = set(admitted.values())
    if len(times) == 1:
        value: Any = times.pop()
    else:
        kind = _I.queue_admitted_at.type
        value = case(*((_I.instance_id == iid, literal(at, kind)) for iid, at in admitted.items()))
    return update(INSTANCES).where(_I.instance_id.in_(sorted(admitted))).values(queue_admitted_at=value)


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _stats(config: QueueRow, keys: list[QueueKeyStats]) -> QueueStats:
    keys.sort(key=lambda k: (-k.depth, k.key or ""))
    return QueueStats(
        name=config.name,
        concurrency=config.concurrency,
        per_key_concurrency=config.per_key_concurrency,
        rate_limit=config.rate_limit,
        depth=sum(k.depth for k in keys),
        queued=sum(k.queued for k in keys),
        running=sum(k.running for k in keys),
        keys=tuple(keys[:STATS_KEYS]),
    )
