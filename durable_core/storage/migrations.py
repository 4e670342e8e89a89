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
from sqlalchemy.schema import CreateIndex, CreateTable, DDLElement

from durable_core.errors import MigrationError
from durable_core.storage.dialects import ErrorKind, SqlDialect
from durable_core.storage.schema import (
    INSTANCES,
    OUTBOX,
    PARENT_INDEX,
    SCHEMA_VERSION,
    V1_TABLES,
    V3_TABLES,
    V5_TABLES,
    V7_TABLES,
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


def _run_control(dialect: Dialect) -> list[DDLElement]:
    columns: list[DDLElement] = [_AddColumn(INSTANCES, c.name) for c in run_control_columns()]
    return columns + _create_tables(dialect, V7_TABLES)


#: (version, description, DDL builder), ascending.
MIGRATIONS: Final[tuple[tuple[int, str, DdlBuilder], ...]] = (
    (1, "initial schema: instances, history, attempts", _v1),
    (2, "transactional outbox", _outbox),
    (3, "events, channels, waits, child workflows, recur archive", _messaging),
    (5, "worker liveness heartbeats", _liveness),
    (7, "run control: pause flag, fork origin, control journal", _run_control),
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
