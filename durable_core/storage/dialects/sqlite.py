"""SQLite via aiosqlite: WAL, one writer at a time (``BEGIN IMMEDIATE``), no row locks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import and_, event, func, literal
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from durable_core.storage.dialects.base import ErrorKind, SqlDialect, _check_scalar, _json_path, json_dumps
from durable_core.storage.schema import ATTEMPTS, SUBSCRIPTIONS
from durable_core.types import Backend, JsonScalar, SqliteSynchronous

if TYPE_CHECKING:
    from sqlalchemy import Table

    from durable_core.storage.connections import Connections
    from durable_core.storage.writer import FastWriter

#: Execution option that makes a SQLite transaction start with ``BEGIN IMMEDIATE`` (write lock).
SQLITE_WRITE_OPTION: Final = "edda_write"
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
SQLITE_MIGRATION_BUSY_TIMEOUT_MS: Final = 300_000
MEMORY_POOL_TIMEOUT_S: Final = 60


class SqliteDialect(SqlDialect):
    """SQLite via aiosqlite: WAL, one writer at a time (``BEGIN IMMEDIATE``), no row locks."""

    name = Backend.SQLITE
    label = "SQLite"
    driver_modules = ("sqlite3", "aiosqlite")
    unreachable_hint = (
        "Check that the path in the URL is the file you mean, that its directory exists and that this "
        "process may read and write it"
    )
    lock_fence_row = False
    sole_writer = True

    def __init__(
        self, url: str, *, memory: bool, synchronous: SqliteSynchronous = SqliteSynchronous.FULL
    ) -> None:
        super().__init__(url)
        self.single_connection = memory
        #: ``PRAGMA synchronous`` of every connection (pool, writer): FULL syncs the WAL on each commit
        self.synchronous = synchronous
        self._pragmas = (
            f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
            "PRAGMA journal_mode = WAL",
            f"PRAGMA synchronous = {synchronous.name}",
            "PRAGMA foreign_keys = ON",
        )

    def engine_kwargs(self, pool_size: int | None, max_overflow: int | None, echo: bool) -> dict[str, Any]:
        """In-memory databases live in one connection that is never closed; files use a queue pool."""
        if self.single_connection:  # one connection: the pool itself serializes its users
            return {
                "echo": echo,
                "json_serializer": json_dumps,
                "poolclass": AsyncAdaptedQueuePool,
                "pool_size": 1,
                "max_overflow": 0,
                "pool_timeout": MEMORY_POOL_TIMEOUT_S,
            }
        return super().engine_kwargs(pool_size, max_overflow, echo)

    def write_engine(self, engine: AsyncEngine) -> AsyncEngine:
        """Writing transactions start with ``BEGIN IMMEDIATE`` (see :data:`SQLITE_WRITE_OPTION`)."""
        return engine.execution_options(**{SQLITE_WRITE_OPTION: True})

    def fast_writer(self, conns: Connections) -> FastWriter:
        """A database file: the sqlite3 writer thread; in memory: plain transactions on the one connection."""
        from durable_core.storage.writer import SqliteThreadWriter  # the writer module imports dialects

        if self.single_connection:
            return super().fast_writer(conns)
        path = make_url(self.url).database or ""
        return SqliteThreadWriter(path, conns.engine.dialect, conns.display_url, self.synchronous)

    def lock_rows(
        self, stmt: Select[Any], sa_dialect: Dialect, *, skip_locked: bool = False, of: Table | None = None
    ) -> Select[Any]:
        """Unchanged: ``BEGIN IMMEDIATE`` already excludes every other writer."""
        return stmt

    def preflight(self) -> str | None:
        """The directory of a database file must exist (SQLite creates only the file)."""
        database = make_url(self.url).database
        if self.single_connection or not database:
            return None
        directory = Path(database).expanduser().absolute().parent
        if not directory.is_dir():
            return f"the directory {str(directory)!r} does not exist (SQLite creates the file, not its directory)"
        return None

    def missing_file(self) -> str | None:
        """Connecting creates a missing file, so a caller that must not create one asks first."""
        database = make_url(self.url).database
        if self.single_connection or not database:
            return None
        path = Path(database).expanduser().absolute()
        return None if path.is_file() else f"the file {str(path)!r} does not exist"

    def install_events(self, engine: AsyncEngine) -> None:
        """Take over transaction control from the sqlite3 module and set the pragmas."""

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            try:
                for pragma in self._pragmas:
                    cursor.execute(pragma)
            finally:
                cursor.close()

        def on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(SQLITE_WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "begin", on_begin)

    async def upsert_attempt(
        self, conn: AsyncConnection, fence: Select[Any], values: Mapping[str, Any]
    ) -> bool:
        """``INSERT ... SELECT ... WHERE <fence> ON CONFLICT DO UPDATE``."""
        stmt = sqlite_dialect.insert(ATTEMPTS).from_select(
            list(values),
            fence.with_only_columns(*[literal(v, ATTEMPTS.c[k].type) for k, v in values.items()]),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[ATTEMPTS.c.instance_id, ATTEMPTS.c.position],
            set_={"attempts": stmt.excluded.attempts, "last_error": stmt.excluded.last_error},
        )
        return (await conn.execute(stmt)).rowcount > 0

    @asynccontextmanager
    async def migration_lock(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` is the lock; many processes starting at once may queue for it a while.

        The busy timeout of this connection is raised for the migration, so a process waiting behind
        others that are migrating waits instead of failing with "database is locked".
        """
        raw: Any = (await conn.get_raw_connection()).driver_connection  # the aiosqlite connection
        await raw.execute(f"PRAGMA busy_timeout = {SQLITE_MIGRATION_BUSY_TIMEOUT_MS}")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")

    async def lock_keys(self, conn: AsyncConnection, tokens: Sequence[str]) -> None:
        """Nothing to lock: ``BEGIN IMMEDIATE`` already makes this transaction the only writer."""

    async def upsert_subscription(self, conn: AsyncConnection, values: Mapping[str, Any]) -> None:
        """``INSERT ... ON CONFLICT DO UPDATE SET mode``."""
        stmt = sqlite_dialect.insert(SUBSCRIPTIONS).values(**values)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[SUBSCRIPTIONS.c.instance_id, SUBSCRIPTIONS.c.channel],
                set_={"mode": stmt.excluded.mode},
            )
        )

    def json_field_equals(self, column: Any, key: str, value: JsonScalar) -> ColumnElement[bool]:
        """Uses ``json_type`` to keep types apart (``true`` is not ``1``, ``"1"`` is not ``1``)."""
        _check_scalar(value)
        path = _json_path(key)
        jtype = func.json_type(column, path)
        extracted = func.json_extract(column, path)
        if value is None:
            return jtype == "null"
        if isinstance(value, bool):
            return jtype == ("true" if value else "false")
        if isinstance(value, str):
            return and_(jtype == "text", extracted == value)
        return and_(jtype.in_(["integer", "real"]), extracted == value)

    def _classify_driver(self, orig: BaseException) -> ErrorKind:
        name = str(getattr(orig, "sqlite_errorname", "") or "")
        message = str(orig).lower()
        if name in ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"):
            return ErrorKind.UNIQUE_VIOLATION
        if name.startswith(
            ("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_BUSY", "SQLITE_NOTADB", "SQLITE_FULL")
        ):
            return ErrorKind.UNAVAILABLE
        if "unable to open database" in message or "database is locked" in message:
            return ErrorKind.UNAVAILABLE
        if name.startswith(("SQLITE_TOOBIG", "SQLITE_MISMATCH")) or "too big" in message:
            return ErrorKind.DATA_REFUSED
        if "error binding parameter" in message or type(orig).__name__ == "DataError":
            return ErrorKind.DATA_REFUSED
        if "already exists" in message:
            return ErrorKind.ALREADY_EXISTS
        return ErrorKind.OTHER
