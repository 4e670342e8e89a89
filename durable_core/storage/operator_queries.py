"""Read models for operators (the console, the CLI) and the operator action journal.

Every query is bounded and served by an index, so pages stay fast on large databases:

* instance listing reuses :func:`~durable_core.storage.queries.list_instances_select` (keyset on
  ``(created_at, instance_id)``) and adds an instance-id prefix: a ``LIKE`` plus, where ids compare
  byte-wise (SQLite, MySQL's binary collation), a primary-key range the planner can use;
* counts by workflow and status are one ``GROUP BY`` (a full index scan: callers cache the result);
* throughput reads the ``created_at`` and ``finished_at`` indexes over the last hour only;
* children use the parent index, outbox rows of an instance the ``(instance_id, created_at)`` index of
  migration v10, the action journal its own ``(instance_id, action_id)`` index.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, case, func, insert, select, text
from sqlalchemy.sql.elements import ColumnElement

from durable_core.operator_types import ArchivedRun, InstanceCounts, OperatorAction, ThroughputPoint
from durable_core.storage import records
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
    WAITS,
)
from durable_core.types import (
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
    OutboxRecord,
)

__all__ = ["OperatorQueriesSource", "SqlOperatorQueries", "id_prefix_condition"]

_I = INSTANCES.c
_A = OPERATOR_ACTIONS.c
_O = OUTBOX.c
_X = HISTORY_ARCHIVE.c
#: sorts after every character an id can hold: the upper bound of a prefix range
_TOP: Final = "\U0010ffff"
_BYTEWISE: Final = frozenset({"sqlite", "mysql"})


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
    async def search_instances(self, query: InstanceQuery, id_prefix: str | None) -> list[InstanceRecord]:
        """Instances matching ``query`` whose id starts with ``id_prefix`` (when given), newest first."""
        stmt = list_instances_select(query, self._dialect)
        if id_prefix:
            stmt = stmt.where(id_prefix_condition(id_prefix, self._dialect))
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
    async def actions_of(self, instance_id: str, limit: int) -> list[OperatorAction]:
        """Journaled actions on ``instance_id``, oldest first."""
        stmt = select(OPERATOR_ACTIONS).where(_A.instance_id == instance_id).order_by(_A.action_id)
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
