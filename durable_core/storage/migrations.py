"""Versioned schema migrations, applied under a database-wide lock.

Version 1 is the initial schema. A migration is a version number, a description and a function that
returns the DDL statements for a SQLAlchemy dialect, so the same list is applied by
:meth:`SqlStorage.migrate` and printed by :func:`migration_sql` for teams that manage schema themselves.

Adding a migration: append ``(2, "...", builder)`` to :data:`MIGRATIONS`. Version 1 is built from
:data:`~durable_core.storage.schema.V1_TABLES`; when a later migration changes one of those tables, first
freeze version 1 by building it from a copy of the v1 table definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy import Table, func, insert, inspect, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import DDL, CreateIndex, CreateTable, DDLElement

from durable_core.errors import DatabaseNotFoundError, MigrationError
from durable_core.storage.dialects import ErrorKind, SqlDialect
from durable_core.storage.schema import (
    CONTROL_TABLES,
    ID_PATTERN_INDEX_DDL,
    INSTANCES,
    OPERATOR_TABLES,
    OUTBOX,
    OUTBOX_INSTANCE_INDEX,
    PARENT_INDEX,
    QUEUE_INDEX,
    QUEUE_TABLES,
    SCHEDULE_TABLES,
    SCHEMA_VERSION,
    SINGLETON_INDEX,
    STREAM_TABLES,
    V1_TABLES,
    V3_TABLES,
    V5_TABLES,
    VERSION_INDEX,
    WORKFLOW_STATUS_INDEX,
    run_control_columns,
)
from durable_core.types import MigrationStep

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "apply_pending",
    "migration_sql",
    "migration_steps",
    "read_version",
    "require_current",
]

DdlBuilder = Callable[[Dialect], list[DDLElement]]


def _create_tables(dialect: Dialect, tables: Sequence[Table]) -> list[DDLElement]:
    mysql = dialect.name in ("mysql", "mariadb")
    statements: list[DDLElement] = []
    for table in tables:
        statements.append(CreateTable(table, if_not_exists=True))
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            # MySQL 8 has no CREATE INDEX IF NOT EXISTS; "duplicate key name" is tolerated instead
            statements.append(CreateIndex(index, if_not_exists=not mysql))
    return statements


def _v1(dialect: Dialect) -> list[DDLElement]:
    return _create_tables(dialect, V1_TABLES)


def _outbox(dialect: Dialect) -> list[DDLElement]:
    return _create_tables(dialect, (OUTBOX,))


class _AddColumn(DDLElement):
    """``ALTER TABLE <table> ADD COLUMN <column definition>`` compiled for the target dialect."""

    def __init__(self, table: Table, column_name: str) -> None:
        self.table = table
        self.column = table.c[column_name]


@compiles(_AddColumn)
def _compile_add_column(element: _AddColumn, compiler: Any, **kw: Any) -> str:
    column = compiler.get_column_specification(element.column)
    return f"ALTER TABLE {compiler.preparer.format_table(element.table)} ADD COLUMN {column}"


def _messaging(dialect: Dialect) -> list[DDLElement]:
    parent_index = next(ix for ix in INSTANCES.indexes if ix.name == PARENT_INDEX)
    mysql = dialect.name in ("mysql", "mariadb")
    statements: list[DDLElement] = [
        _AddColumn(INSTANCES, "parent_instance_id"),
        CreateIndex(parent_index, if_not_exists=not mysql),
    ]
    return statements + _create_tables(dialect, V3_TABLES)


def _liveness(dialect: Dialect) -> list[DDLElement]:
    return _create_tables(dialect, V5_TABLES)


def _evolution(dialect: Dialect) -> list[DDLElement]:
    version_index = next(ix for ix in INSTANCES.indexes if ix.name == VERSION_INDEX)
    columns = ("app_version", "last_run_version", "replay_frontier")
    index = CreateIndex(version_index, if_not_exists=dialect.name not in ("mysql", "mariadb"))
    return [*(_AddColumn(INSTANCES, name) for name in columns), index]


def _streams(dialect: Dialect) -> list[DDLElement]:
    return _create_tables(dialect, STREAM_TABLES)


def _schedules(dialect: Dialect) -> list[DDLElement]:
    return _create_tables(dialect, SCHEDULE_TABLES)


def _queues(dialect: Dialect) -> list[DDLElement]:
    queue_index = next(ix for ix in INSTANCES.indexes if ix.name == QUEUE_INDEX)
    added = ("queue_name", "queue_key", "priority", "queue_admitted_at")
    mysql = dialect.name in ("mysql", "mariadb")
    statements: list[DDLElement] = [_AddColumn(INSTANCES, name) for name in added]
    statements.append(CreateIndex(queue_index, if_not_exists=not mysql))
    return statements + _create_tables(dialect, QUEUE_TABLES)


def _operator(dialect: Dialect) -> list[DDLElement]:
    mysql = dialect.name in ("mysql", "mariadb")
    statements = [
        *_create_tables(dialect, OPERATOR_TABLES),
        CreateIndex(OUTBOX_INSTANCE_INDEX, if_not_exists=not mysql),
    ]
    if dialect.name == "postgresql":  # id-prefix search whatever the collation (byte-wise elsewhere already)
        statements.append(DDL(ID_PATTERN_INDEX_DDL))  # type: ignore[no-untyped-call]  # SQLAlchemy leaves DDL untyped
    return statements


def _run_control(dialect: Dialect) -> list[DDLElement]:
    columns: list[DDLElement] = [_AddColumn(INSTANCES, c.name) for c in run_control_columns()]
    return columns + _create_tables(dialect, CONTROL_TABLES)


#: Instances that hold a singleton key now learn it (they hand it over when they finish).
SINGLETON_BACKFILL: Final = (
    "UPDATE edda_instances SET singleton_key = (SELECT k.flow_key FROM edda_flow_keys k"
    " WHERE k.kind = 'singleton' AND k.instance_id = edda_instances.instance_id"
    " AND k.workflow_name = edda_instances.workflow_name)"
    " WHERE instance_id IN (SELECT instance_id FROM edda_flow_keys WHERE kind = 'singleton')"
)


def _singleton(dialect: Dialect) -> list[DDLElement]:
    index = next(ix for ix in INSTANCES.indexes if ix.name == SINGLETON_INDEX)
    mysql = dialect.name in ("mysql", "mariadb")
    return [
        _AddColumn(INSTANCES, "singleton_key"),
        CreateIndex(index, if_not_exists=not mysql),
        DDL(SINGLETON_BACKFILL),  # type: ignore[no-untyped-call]  # SQLAlchemy leaves DDL untyped
    ]


def _workflow_status_index(dialect: Dialect) -> list[DDLElement]:
    index = next(ix for ix in INSTANCES.indexes if ix.name == WORKFLOW_STATUS_INDEX)
    return [CreateIndex(index, if_not_exists=dialect.name not in ("mysql", "mariadb"))]


#: (version, description, DDL builder), ascending.
MIGRATIONS: Final[tuple[tuple[int, str, DdlBuilder], ...]] = (
    (1, "initial schema: instances, history, attempts", _v1),
    (2, "transactional outbox", _outbox),
    (3, "events, channels, waits, child workflows, recur archive", _messaging),
    (5, "worker liveness heartbeats", _liveness),
    (6, "code versions of instances and the replay frontier of ctx.patched", _evolution),
    (7, "durable output streams", _streams),
    (8, "schedules", _schedules),
    (9, "queues, rate limits, debounce and singleton keys", _queues),
    (10, "operator action journal; outbox rows by instance", _operator),
    (11, "run control: pause flag, fork origin, control journal", _run_control),
    (12, "singleton keys: the key an instance took, queued starts behind it", _singleton),
    (13, "instances by workflow and status: a covering index for the counts", _workflow_status_index),
)
LATEST_VERSION: Final = MIGRATIONS[-1][0]


def _compile(element: DDLElement, dialect: Dialect) -> str:
    return str(element.compile(dialect=dialect)).strip()


def migration_steps(dialect: Dialect) -> list[MigrationStep]:
    """Every migration with its DDL compiled for ``dialect``.

    Args:
        dialect: the SQLAlchemy dialect of the target database.
    """
    return [
        MigrationStep(version, description, tuple(_compile(s, dialect) for s in build(dialect)))
        for version, description, build in MIGRATIONS
    ]


def migration_sql(dialect: Dialect) -> str:
    """The full, printable DDL of every migration (plus the version table) for ``dialect``.

    Args:
        dialect: the SQLAlchemy dialect of the target database.
    """
    table = SCHEMA_VERSION.name
    parts = [
        f"-- Edda MCP schema for {dialect.name}, migrations 1..{LATEST_VERSION}",
        _compile(CreateTable(SCHEMA_VERSION, if_not_exists=True), dialect) + ";",
    ]
    for step in migration_steps(dialect):
        parts.append(f"\n-- v{step.version}: {step.description}")
        parts.extend(f"{statement};" for statement in step.statements)
        description = step.description.replace("'", "''")
        parts.append(
            f"INSERT INTO {table} (version, description, applied_at) "
            f"VALUES ({step.version}, '{description}', CURRENT_TIMESTAMP);"
        )
    return "\n".join(parts) + "\n"


def require_current(version: int, label: str, display_url: str) -> None:
    """Refuse a database that holds no Edda schema, or one of another version than this code's.

    Raises:
        DatabaseNotFoundError: ``version`` is 0 (no Edda schema: a wrong URL, most likely).
        MigrationError: the schema is older or newer than :data:`LATEST_VERSION`.
    """
    if version == 0:
        raise DatabaseNotFoundError(
            f"The {label} database {display_url} holds no Edda schema. Check the URL, or create the schema "
            "with `edda-mcp migrate --db URL` (or start an app with auto_migrate=True)."
        )
    if version != LATEST_VERSION:
        raise MigrationError(
            f"The {label} database {display_url} has schema version {version}; this code needs "
            f"{LATEST_VERSION}. Apply the migrations (`edda-mcp migrate --db URL`, `await storage.migrate()`, "
            "or print them with `storage.migration_sql()`), or start with auto_migrate=True."
        )


async def read_version(conn: AsyncConnection) -> int:
    """Highest applied version on ``conn``'s database; 0 when the version table does not exist."""

    def has_table(sync_conn: Connection) -> bool:
        return bool(inspect(sync_conn).has_table(SCHEMA_VERSION.name))

    if not await conn.run_sync(has_table):
        return 0
    return int((await conn.execute(select(func.max(SCHEMA_VERSION.c.version)))).scalar() or 0)


async def _execute_ddl(conn: AsyncConnection, dialect: SqlDialect, element: DDLElement) -> None:
    if dialect.transactional_ddl:
        await conn.execute(element)
        return
    try:
        await conn.execute(element)
    except DBAPIError as exc:  # non-transactional DDL: a half-applied earlier run left this behind
        if dialect.classify(exc) is not ErrorKind.ALREADY_EXISTS:
            raise


async def apply_pending(conn: AsyncConnection, dialect: SqlDialect) -> list[int]:
    """Apply every pending migration on ``conn`` (the caller holds the migration lock and commits).

    Returns:
        The versions applied now (empty when the schema was current).

    Raises:
        MigrationError: the database has a newer schema than this code knows.
    """
    await conn.execute(CreateTable(SCHEMA_VERSION, if_not_exists=True))
    current = int((await conn.execute(select(func.max(SCHEMA_VERSION.c.version)))).scalar() or 0)
    if current > LATEST_VERSION:
        raise MigrationError(
            f"The {dialect.label} database schema is at version {current}, newer than this code knows "
            f"(latest {LATEST_VERSION}); upgrade edda-mcp, or point it at another database."
        )
    applied: list[int] = []
    sa_dialect = conn.dialect
    for version, description, build in MIGRATIONS:
        if version <= current:
            continue
        for element in build(sa_dialect):
            await _execute_ddl(conn, dialect, element)
        await conn.execute(
            insert(SCHEMA_VERSION).values(
                version=version, description=description, applied_at=func.current_timestamp()
            )
        )
        if not dialect.transactional_ddl:
            await conn.commit()
        applied.append(version)
    return applied
