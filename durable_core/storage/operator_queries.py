"""Read models for operators (the console, the CLI) and the operator action journal.

Every query is bounded and served by an index, so pages stay fast on large databases:

* instance listing reuses :func:`~durable_core.storage.queries.list_instances_select` (keyset on
  ``(created_at, instance_id)``) and adds an instance-id prefix: a ``LIKE`` plus, where ids compare
  byte-wise (SQLite, MySQL's binary collation), a primary-key range the planner can use;
* counts by workflow and status are one ``GROUP BY`` (a full index scan: callers cache the result);
* throughput reads the ``created_at`` and ``finished_at`` indexes over the last hour only;
* a queue's backlog groups its unfinished rows on the ``(queue_name, queue_key, status)`` index of
  migration v9, top keys only (``LIMIT``); a stream summary groups an instance's chunks on the chunk
  table's primary key ``(instance_id, stream, seq)``;
* children use the parent index, outbox rows of an instance the ``(instance_id, created_at)`` index of
  migration v10, the action journal its own ``(instance_id, action_id)`` index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, case, func, insert, not_, select, text
from sqlalchemy.sql.elements import ColumnElement

from durable_core.flow import QueueKeyStats, RateLimit, RateState
from durable_core.operator_types import ArchivedRun, InstanceCounts, OperatorAction, ThroughputPoint
from durable_core.storage import leases, records
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dialects import SqlDialect
from durable_core.storage.outbox import outbox_record_from_row
from durable_core.storage.queries import MAX_LIST_LIMIT, list_instances_select
from durable_core.storage.schema import (
    HISTORY_ARCHIVE,
    INSTANCES,
    OPERATOR_ACTIONS,
    OUTBOX,
    PARENT_INDEX,
    QUEUES,
    RATE_LIMITS,
    STREAM_CHUNKS,
    WAITS,
)
from durable_core.types import (
    FINISHED_STATUSES,
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
    OutboxRecord,
)

__all__ = [
    "ChunkGroup",
    "OperatorQueriesSource",
    "QueueBacklogRow",
    "SqlOperatorQueries",
    "id_prefix_condition",
]

_I = INSTANCES.c
_A = OPERATOR_ACTIONS.c
_O = OUTBOX.c
_X = HISTORY_ARCHIVE.c
#: sorts after every character an id can hold: the upper bound of a prefix range
_TOP: Final = "\U0010ffff"
_BYTEWISE: Final = frozenset({"sqlite", "mysql"})
_C = STREAM_CHUNKS.c
_FINISHED: Final = sorted(s.value for s in FINISHED_STATUSES)


@dataclass(frozen=True, slots=True)
class QueueBacklogRow:
    """What :meth:`SqlOperatorQueries.queue_backlog` read (the engine adds the rate limit's next grant)."""

    priority: bool
    rate_limit: RateLimit | None
    rate_state: RateState
    oldest_queued_at: datetime | None
    key_count: int
    keys: tuple[QueueKeyStats, ...]


@dataclass(frozen=True, slots=True)
class ChunkGroup:
    """The chunks one attempt of a step wrote to one stream (kind by kind): how many, the last of them."""

    stream: str
    position: int
    attempt: int
    epoch: int
    kind: str
    count: int
    last_seq: int
    last_written_at: datetime


def _limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit must be an int between 1 and {MAX_LIST_LIMIT}, got {limit!r}")
    return limit


def id_prefix_condition(prefix: str, dialect: SqlDialect) -> ColumnElement[bool]:
    """SQL condition: the instance id starts with ``prefix`` (matched literally, case-sensitively)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = _I.instance_id.like(escaped + "%", escape="\\")
    if dialect.name == "postgresql":  # byte-wise operators served by the varchar_pattern_ops index (v10)
        column = _I.instance_id
        return and_(column.op("~>=~")(prefix), column.op("~<~")(prefix + _TOP), like)
    if dialect.name not in _BYTEWISE:  # a linguistic collation may not order U+10FFFF last
        return like
    return and_(_I.instance_id >= prefix, _I.instance_id < prefix + _TOP, like)


def _minute_sums(column: Any, since: datetime, minutes: int) -> list[Any]:
    return [
        func.sum(
            case(
                (
                    and_(column >= since + timedelta(minutes=i), column < since + timedelta(minutes=i + 1)),
                    1,
                ),
                else_=0,
            )
        )
        for i in range(minutes)
    ]


class SqlOperatorQueries:
    """Operator look-ups and the action journal on one database."""

    def __init__(self, conns: Connections, dialect: SqlDialect) -> None:
        self._conns = conns
        self._dialect = dialect

    @guarded()
    async def search_instances(
        self, query: InstanceQuery, id_prefix: str | None, queue: tuple[str, str | None] | None = None
    ) -> list[InstanceRecord]:
        """Instances matching ``query`` and, when given, ``id_prefix`` and ``queue``; newest first.

        ``queue`` is (queue name, key or None for any key).
        """
        stmt = list_instances_select(query, self._dialect)
        if id_prefix:
            stmt = stmt.where(id_prefix_condition(id_prefix, self._dialect))
        if queue is not None:
            stmt = stmt.where(_I.queue_name == queue[0])
            if queue[1] is not None:
                stmt = stmt.where(_I.queue_key == queue[1])
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [records.instance_from_row(row._mapping) for row in rows]

    @guarded()
    async def count_instances(self) -> InstanceCounts:
        """Instances per status and per workflow: two scans of covering indexes."""
        by_status = select(_I.status, func.count()).group_by(_I.status).order_by(_I.status)
        by_workflow = (
            select(_I.workflow_name, func.count()).group_by(_I.workflow_name).order_by(_I.workflow_name)
        )
        async with self._conns.read() as conn:
            statuses = (await conn.execute(by_status)).all()
            workflows = (await conn.execute(by_workflow)).all()
        return InstanceCounts(
            tuple((InstanceStatus(s), int(n)) for s, n in statuses),
            tuple((str(w), int(n)) for w, n in workflows),
        )

    @guarded()
    async def throughput(self, since: datetime, minutes: int) -> list[ThroughputPoint]:
        """Instances started and finished per minute, for ``minutes`` minutes from ``since``."""
        until = since + timedelta(minutes=minutes)
        started_q = select(*_minute_sums(_I.created_at, since, minutes)).where(
            _I.created_at >= since, _I.created_at < until
        )
        finished_q = select(*_minute_sums(_I.finished_at, since, minutes)).where(
            _I.finished_at >= since, _I.finished_at < until
        )
        async with self._conns.read() as conn:
            started = (await conn.execute(started_q)).one()
            finished = (await conn.execute(finished_q)).one()
        return [
            ThroughputPoint(since + timedelta(minutes=i), int(started[i] or 0), int(finished[i] or 0))
            for i in range(minutes)
        ]

    @guarded()
    async def awaiting_input(self, limit: int) -> list[InstanceRecord]:
        """WAITING instances that wait for typed input (an event with a schema), newest first."""
        # from the (small) waits table to the instances by primary key: a subquery let the planner walk
        # every WAITING instance instead (1.3 s at 100,000 of them)
        typed = select(WAITS.c.instance_id).where(WAITS.c.input_schema.is_not(None)).distinct()
        async with self._conns.read() as conn:
            ids = list((await conn.execute(typed.limit(MAX_LIST_LIMIT))).scalars())
            if not ids:
                return []
            stmt = (
                select(INSTANCES)
                .where(_I.instance_id.in_(ids), _I.status == InstanceStatus.WAITING.value)
                .order_by(_I.created_at.desc(), _I.instance_id.desc())
                .limit(_limit(limit))
            )
            rows = (await conn.execute(stmt)).all()
        return [records.instance_from_row(row._mapping) for row in rows]

    @guarded()
    async def children(self, instance_id: str, limit: int) -> list[InstanceRecord]:
        """Child instances started by ``instance_id``, oldest first."""
        stmt: Any = (
            select(INSTANCES)
            .where(_I.parent_instance_id == instance_id)
            .order_by(_I.created_at, _I.instance_id)
            .limit(_limit(limit))
        )
        if self._dialect.name == "sqlite":
            # SQLite's statistics see one value (NULL) filling the parent index and would scan the
            # creation-time index instead (seconds at 1,000,000 rows): name the index
            columns = ", ".join(c.name for c in INSTANCES.c)
            stmt = (
                text(
                    f"SELECT {columns} FROM edda_instances INDEXED BY {PARENT_INDEX} "
                    "WHERE parent_instance_id = :parent ORDER BY created_at, instance_id LIMIT :limit"
                )
                .bindparams(parent=instance_id, limit=limit)
                .columns(*INSTANCES.c)
            )
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [records.instance_from_row(row._mapping) for row in rows]

    @guarded()
    async def outbox_of(self, instance_id: str, limit: int) -> list[OutboxRecord]:
        """Outbox rows written by the activities of ``instance_id``, oldest first."""
        stmt = (
            select(OUTBOX)
            .where(_O.instance_id == instance_id)
            .order_by(_O.created_at, _O.event_id)
            .limit(_limit(limit))
        )
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [outbox_record_from_row(row._mapping) for row in rows]

    @guarded()
    async def archived_runs(self, instance_id: str) -> list[ArchivedRun]:
        """The kept earlier runs of a recurring instance with their histories, oldest first."""
        stmt = select(HISTORY_ARCHIVE).where(_X.instance_id == instance_id).order_by(_X.run, _X.position)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        runs: dict[int, list[Any]] = {}
        for row in rows:
            runs.setdefault(int(row._mapping["run"]), []).append(records.history_from_row(row._mapping))
        return [ArchivedRun(run, tuple(entries)) for run, entries in runs.items()]

    @guarded()
    async def queue_backlog(self, queue: str, now: datetime, key_limit: int) -> QueueBacklogRow | None:
        """The stored queue's oldest waiting run, number of keys and its ``key_limit`` largest key backlogs."""
        unfinished = and_(_I.queue_name == queue, _I.status.not_in(_FINISHED))
        claimable = and_(leases.runnable(now), leases.lease_free(now))
        executing = func.sum(
            case((and_(_I.lease_owner.is_not(None), not_(leases.lease_free(now))), 1), else_=0)
        )
        total = func.count()
        keys = (
            select(_I.queue_key, total, executing, func.sum(case((claimable, 1), else_=0)))
            .where(unfinished)
            .group_by(_I.queue_key)
            .order_by((total - executing).desc(), total.desc(), _I.queue_key)
            .limit(_limit(key_limit))
        )
        key_count = select(func.count()).select_from(
            select(_I.queue_key).where(unfinished).group_by(_I.queue_key).subquery()
        )
        oldest = select(func.min(_I.created_at)).where(unfinished, claimable)
        async with self._conns.read() as conn:
            config = (await conn.execute(select(QUEUES).where(QUEUES.c.name == queue))).first()
            if config is None:
                return None
            rows = (await conn.execute(keys)).all()
            count = int((await conn.execute(key_count)).scalar_one())
            oldest_at = (await conn.execute(oldest)).scalar_one()
        stats = tuple(
            QueueKeyStats(key, int(n) - int(run or 0), int(queued or 0), int(run or 0))
            for key, n, run, queued in rows
        )
        m = config._mapping
        rate = None
        if m["rate_count"] is not None:
            per = timedelta(microseconds=int(m["rate_per_us"]))
            rate = RateLimit(int(m["rate_count"]), per=per, burst=int(m["rate_burst"] or 1))
        state = RateState.from_json(m["rate_state"])
        oldest_at = records.utc(oldest_at) if oldest_at is not None else None
        return QueueBacklogRow(bool(m["priority"]), rate, state, oldest_at, count, stats)

    @guarded()
    async def rate_limit_states(self) -> list[tuple[str, RateState]]:
        """Every named rate limit's stored state, by name."""
        stmt = select(RATE_LIMITS.c.name, RATE_LIMITS.c.state).order_by(RATE_LIMITS.c.name)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt.limit(MAX_LIST_LIMIT))).all()
        return [(str(name), RateState.from_json(state)) for name, state in rows]

    @guarded()
    async def stream_groups(self, instance_id: str, limit: int) -> list[ChunkGroup]:
        """Chunks of the instance's streams grouped by writing attempt and kind, by stream then last seq."""
        last_seq = func.max(_C.seq)
        stmt = (
            select(_C.stream, _C.position, _C.attempt, _C.lease_epoch, _C.kind)
            .add_columns(func.count(), last_seq, func.max(_C.written_at))
            .where(_C.instance_id == instance_id)
            .group_by(_C.stream, _C.position, _C.attempt, _C.lease_epoch, _C.kind)
            .order_by(_C.stream, last_seq)
            .limit(_limit(limit))
        )
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            ChunkGroup(
                str(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]), int(r[5]), int(r[6]), records.utc(r[7])
            )
            for r in rows
        ]

    @guarded(retry_deadlocks=False)
    async def record_action(self, action: OperatorAction) -> None:
        """Append ``action`` to the journal."""
        values = {
            "instance_id": action.instance_id,
            "action": action.action,
            "actor": action.actor,
            "reason": action.reason,
            "detail": action.detail,
            "at": action.at,
        }
        async with self._conns.write() as conn:
            await conn.execute(insert(OPERATOR_ACTIONS).values(**values))

    @guarded()
    async def actions_of(
        self, instance_id: str, limit: int, newest_first: bool = False
    ) -> list[OperatorAction]:
        """Journaled actions on ``instance_id``, oldest (or newest) first."""
        order = _A.action_id.desc() if newest_first else _A.action_id
        stmt = select(OPERATOR_ACTIONS).where(_A.instance_id == instance_id).order_by(order)
        async with self._conns.read() as conn:
            rows = (await conn.execute(stmt.limit(_limit(limit)))).all()
        return [_action(row._mapping) for row in rows]


def _action(row: Any) -> OperatorAction:
    return OperatorAction(
        instance_id=row["instance_id"],
        action=row["action"],
        actor=row["actor"],
        reason=row["reason"],
        at=row["at"],
        detail=row["detail"],
    )


class OperatorQueriesSource:
    """Gives :class:`~durable_core.storage.sql.SqlStorage` its ``operator_queries()`` (a mixin)."""

    _conns: Connections
    _dialect: SqlDialect

    def operator_queries(self) -> SqlOperatorQueries:
        """Look-ups for operators (console, CLI) and the operator action journal of this database."""
        return SqlOperatorQueries(self._conns, self._dialect)
