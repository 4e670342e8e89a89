"""What differs between SQLite, PostgreSQL and MySQL/MariaDB, one small class each.

Queries are written once in :mod:`durable_core.storage.sql`; they ask the dialect only for: engine
arguments and connection set-up, whether ``SKIP LOCKED`` is available, the attempts-table upsert, the
migration lock, how a top-level JSON field is compared, and how to classify a driver error.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, Final

from sqlalchemy import LargeBinary, and_, bindparam, case, cast, event, func, literal, null, or_, select, text
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from durable_core.errors import MigrationError
from durable_core.storage.schema import ATTEMPTS, KEY_LOCKS, SUBSCRIPTIONS
from durable_core.types import JsonScalar

__all__ = [
    "ErrorKind",
    "MysqlDialect",
    "PostgresDialect",
    "SqlDialect",
    "SqliteDialect",
    "dialect_for",
    "json_dumps",
]

#: Execution option that makes a SQLite transaction start with ``BEGIN IMMEDIATE`` (write lock).
SQLITE_WRITE_OPTION: Final = "edda_write"
CONNECT_TIMEOUT_S: Final = 10
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
SQLITE_MIGRATION_BUSY_TIMEOUT_MS: Final = 300_000
MIGRATION_LOCK_TIMEOUT_S: Final = 120
MEMORY_POOL_TIMEOUT_S: Final = 60
_PG_MIGRATION_LOCK_KEY: Final = 0x45646461_4D696772  # "EddaMigr"


#: the PostgreSQL NOTIFY channel that carries ids of instances made runnable (comma-separated)
WAKE_CHANNEL: Final = "edda_wake"
_NOTIFY_PAYLOAD_LIMIT: Final = 7000  # PostgreSQL rejects payloads of 8000 bytes or more


def _notify_chunks(instance_ids: Sequence[str]) -> list[str]:
    chunks: list[str] = []
    current = ""
    for instance_id in instance_ids:
        if current and len(current) + len(instance_id) + 1 > _NOTIFY_PAYLOAD_LIMIT:
            chunks.append(current)
            current = ""
        current = f"{current},{instance_id}" if current else instance_id
    if current:
        chunks.append(current)
    return chunks


def json_dumps(value: Any) -> str:
    """Compact JSON used for every JSON column (NaN/Infinity rejected: no database accepts them)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class ErrorKind(enum.Enum):
    """Classification of a database error.

    Two families matter to the engine: *transient* errors (the same write may succeed later:
    unavailable, deadlock or serialization failure, lock wait timeout) and *data refused* (the
    database will always refuse this data: value too long, invalid characters or encoding, a value
    its column type cannot hold). Retrying the second kind can only loop.
    """

    UNIQUE_VIOLATION = "unique-violation"
    UNAVAILABLE = "unavailable"
    DEADLOCK = "deadlock"  # deadlock or serialization failure
    LOCK_TIMEOUT = "lock-timeout"
    DATA_REFUSED = "data-refused"
    ALREADY_EXISTS = "already-exists"
    OTHER = "other"

    @property
    def transient(self) -> bool:
        """Whether the same statement may succeed when tried again later."""
        return self in (ErrorKind.UNAVAILABLE, ErrorKind.DEADLOCK, ErrorKind.LOCK_TIMEOUT)


def _json_path(key: str) -> str:
    if type(key) is not str or not key or any(c in key for c in '"\\') or not key.isprintable():
        raise ValueError(
            f"input_equals field names must be non-empty printable strings without quotes or "
            f"backslashes, got {key!r}"
        )
    return f'$."{key}"'


def _check_scalar(value: object) -> None:
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise ValueError(f"input_equals values must be JSON scalars, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"input_equals cannot compare with {value!r}")


class SqlDialect:
    """Base class: the behaviour shared by every dialect plus the hooks that differ."""

    name: ClassVar[str]
    label: ClassVar[str]
    #: a single shared connection (in-memory SQLite): storage serializes every use of it
    single_connection: bool = False

    def __init__(self, url: str) -> None:
        self.url = url

    # -- engine ---------------------------------------------------------------------------------------
    def engine_kwargs(self, pool_size: int | None, max_overflow: int | None, echo: bool) -> dict[str, Any]:
        """Keyword arguments for ``create_async_engine``."""
        kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_dumps}
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
        if max_overflow is not None:
            kwargs["max_overflow"] = max_overflow
        return kwargs

    def install_events(self, engine: AsyncEngine) -> None:
        """Register connection set-up hooks on ``engine``."""

    def skip_locked(self, sa_dialect: Dialect) -> bool:
        """Whether ``FOR UPDATE SKIP LOCKED`` is available (after the first connection)."""
        return False

    def preflight(self) -> str | None:
        """A reason the database certainly cannot be opened, found without connecting (else None)."""
        return None

    #: lock the fenced instance row in ``INSERT ... SELECT`` (serializes against a claim's UPDATE)
    lock_fence_row: bool = True

    # -- statements -----------------------------------------------------------------------------------
    async def upsert_attempt(
        self, conn: AsyncConnection, fence: Select[Any], values: Mapping[str, Any]
    ) -> bool:
        """Insert or update one ``edda_attempts`` row when ``fence`` finds the leased instance.

        Returns:
            False (nothing written) when the fence matched no row.
        """
        raise NotImplementedError

    def json_field_equals(self, column: Any, key: str, value: JsonScalar) -> ColumnElement[bool]:
        """SQL condition: top-level field ``key`` of JSON ``column`` equals the JSON scalar ``value``."""
        raise NotImplementedError

    async def lock_keys(self, conn: AsyncConnection, tokens: Sequence[str]) -> None:
        """Lock one ``edda_key_locks`` row per token (created on first use), in sorted order.

        Every sender and every parker of a key takes its lock first, so a message and a wait being
        registered for the same key are ordered: one of them always sees the other.
        """
        for token in sorted(set(tokens)):
            await conn.execute(self._key_lock_statement(token))

    def _key_lock_statement(self, token: str) -> Any:
        raise NotImplementedError

    async def upsert_subscription(self, conn: AsyncConnection, values: Mapping[str, Any]) -> None:
        """Insert or update one ``edda_subscriptions`` row (its mode may change)."""
        raise NotImplementedError

    async def notify_wake(self, conn: AsyncConnection, instance_ids: Sequence[str]) -> None:
        """Tell other processes, inside the committing transaction, that these instances are runnable.

        Only PostgreSQL can (``pg_notify``); elsewhere other processes find them by their fallback poll.
        """

    @asynccontextmanager
    async def migration_lock(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """Hold the database-wide migration lock on ``conn`` (inside its transaction)."""
        yield

    #: DDL is transactional (else migrations commit per statement and tolerate "already exists")
    transactional_ddl: bool = True

    # -- errors ---------------------------------------------------------------------------------------
    #: top-level modules whose exceptions are this driver's own (raised raw by the hot-path writers)
    driver_modules: ClassVar[tuple[str, ...]] = ()

    def classify(self, exc: BaseException) -> ErrorKind:
        """Classify an exception raised by SQLAlchemy or the driver (wrapped or raw)."""
        if isinstance(exc, (OSError, asyncio.TimeoutError, TimeoutError, PoolTimeoutError)):
            return ErrorKind.UNAVAILABLE
        if isinstance(exc, UnicodeError):  # the driver cannot encode the text (a lone surrogate)
            return ErrorKind.DATA_REFUSED
        if isinstance(exc, DBAPIError):
            if exc.connection_invalidated:
                return ErrorKind.UNAVAILABLE
            orig = exc.orig
            if isinstance(orig, (OSError, asyncio.TimeoutError)):
                return ErrorKind.UNAVAILABLE
            if isinstance(orig, UnicodeError):
                return ErrorKind.DATA_REFUSED
            if orig is not None:
                return self._classify_driver(orig)
        elif type(exc).__module__.partition(".")[0] in self.driver_modules:
            return self._classify_driver(exc)
        return ErrorKind.OTHER

    def _classify_driver(self, orig: BaseException) -> ErrorKind:
        return ErrorKind.OTHER


# -- SQLite ----------------------------------------------------------------------------------------------
class SqliteDialect(SqlDialect):
    """SQLite via aiosqlite: WAL, one writer at a time (``BEGIN IMMEDIATE``), no row locks."""

    name = "sqlite"
    label = "SQLite"
    driver_modules = ("sqlite3", "aiosqlite")
    lock_fence_row = False
    _PRAGMAS: Final = (
        f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
    )

    def __init__(self, url: str, *, memory: bool) -> None:
        super().__init__(url)
        self.single_connection = memory

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

    def preflight(self) -> str | None:
        """The directory of a database file must exist (SQLite creates only the file)."""
        database = make_url(self.url).database
        if self.single_connection or not database:
            return None
        directory = Path(database).expanduser().absolute().parent
        if not directory.is_dir():
            return f"the directory {str(directory)!r} does not exist (SQLite creates the file, not its directory)"
        return None

    def install_events(self, engine: AsyncEngine) -> None:
        """Take over transaction control from the sqlite3 module and set the pragmas."""

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            try:
                for pragma in self._PRAGMAS:
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


# -- PostgreSQL ------------------------------------------------------------------------------------------
_PG_UNAVAILABLE_STATES: Final = frozenset(
    {"57P01", "57P02", "57P03", "53300", "3D000", "28000", "28P01", "55000"}
)


class PostgresDialect(SqlDialect):
    """PostgreSQL via asyncpg: row locks, SKIP LOCKED, transactional DDL, advisory migration lock."""

    name = "postgresql"
    label = "PostgreSQL"
    driver_modules = ("asyncpg",)

    def engine_kwargs(self, pool_size: int | None, max_overflow: int | None, echo: bool) -> dict[str, Any]:
        """Connect timeout and an application name visible in ``pg_stat_activity``."""
        kwargs = super().engine_kwargs(pool_size, max_overflow, echo)
        kwargs["connect_args"] = {
            "timeout": CONNECT_TIMEOUT_S,
            "server_settings": {"application_name": "edda"},
        }
        return kwargs

    def skip_locked(self, sa_dialect: Dialect) -> bool:
        """Always (PostgreSQL 9.5+)."""
        return True

    async def upsert_attempt(
        self, conn: AsyncConnection, fence: Select[Any], values: Mapping[str, Any]
    ) -> bool:
        """``INSERT ... SELECT ... FOR SHARE ON CONFLICT DO UPDATE``."""
        source = fence.with_only_columns(
            *[literal(v, ATTEMPTS.c[k].type) for k, v in values.items()]
        ).with_for_update(read=True)
        stmt = pg_dialect.insert(ATTEMPTS).from_select(list(values), source)
        stmt = stmt.on_conflict_do_update(
            index_elements=[ATTEMPTS.c.instance_id, ATTEMPTS.c.position],
            set_={"attempts": stmt.excluded.attempts, "last_error": stmt.excluded.last_error},
        )
        return (await conn.execute(stmt)).rowcount > 0

    def _key_lock_statement(self, token: str) -> Any:
        """``INSERT ... ON CONFLICT DO UPDATE``: creates the row or takes its row lock."""
        stmt = pg_dialect.insert(KEY_LOCKS).values(wait_key=token, touched=0)
        return stmt.on_conflict_do_update(
            index_elements=[KEY_LOCKS.c.wait_key], set_={"touched": KEY_LOCKS.c.touched + 1}
        )

    async def upsert_subscription(self, conn: AsyncConnection, values: Mapping[str, Any]) -> None:
        """``INSERT ... ON CONFLICT DO UPDATE SET mode``."""
        stmt = pg_dialect.insert(SUBSCRIPTIONS).values(**values)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[SUBSCRIPTIONS.c.instance_id, SUBSCRIPTIONS.c.channel],
                set_={"mode": stmt.excluded.mode},
            )
        )

    async def notify_wake(self, conn: AsyncConnection, instance_ids: Sequence[str]) -> None:
        """``pg_notify`` on :data:`WAKE_CHANNEL`, delivered to listeners when this transaction commits."""
        for chunk in _notify_chunks(instance_ids):
            await conn.execute(select(func.pg_notify(WAKE_CHANNEL, bindparam("ids", chunk))))

    def json_field_equals(self, column: Any, key: str, value: JsonScalar) -> ColumnElement[bool]:
        """``jsonb -> key = value::jsonb`` (jsonb equality is typed; numbers compare numerically)."""
        _check_scalar(value)
        _json_path(key)
        field: ColumnElement[Any] = column.op("->", return_type=pg_dialect.JSONB)(
            cast(literal(key), pg_dialect.TEXT)
        )
        if value is None:
            return func.jsonb_typeof(field) == "null"
        return field == cast(literal(json_dumps(value)), pg_dialect.JSONB)

    @asynccontextmanager
    async def migration_lock(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """``pg_advisory_xact_lock``: held until the migration transaction ends."""
        await conn.execute(text("SET LOCAL lock_timeout = '120s'"))
        await conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK_KEY)))
        yield

    def _classify_driver(self, orig: BaseException) -> ErrorKind:
        state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
        if state == "23505":
            return ErrorKind.UNIQUE_VIOLATION
        if state in ("40P01", "40001"):
            return ErrorKind.DEADLOCK
        if state.startswith("08") or state in _PG_UNAVAILABLE_STATES:
            return ErrorKind.UNAVAILABLE
        if state == "55P03":  # lock_not_available (lock_timeout)
            return ErrorKind.LOCK_TIMEOUT
        # class 22 (data exception: too long, untranslatable character, \u0000 in jsonb, out of
        # range, invalid text representation) and 54 (program limit exceeded: e.g. index row too big)
        if state.startswith(("22", "54")):
            return ErrorKind.DATA_REFUSED
        if state in ("42P07", "42710"):
            return ErrorKind.ALREADY_EXISTS
        cause = orig.__cause__
        type_name = type(cause).__name__ if cause is not None else type(orig).__name__
        message = str(orig).lower()
        if type_name in ("ConnectionDoesNotExistError", "ConnectionFailureError", "CannotConnectNowError"):
            return ErrorKind.UNAVAILABLE
        if "connection is closed" in message or "connection was closed" in message:
            return ErrorKind.UNAVAILABLE
        if isinstance(cause, (OSError, asyncio.TimeoutError)):
            return ErrorKind.UNAVAILABLE
        return ErrorKind.OTHER


# -- MySQL / MariaDB -------------------------------------------------------------------------------------
_MYSQL_NUMBER_TYPES: Final = ("INTEGER", "UNSIGNED INTEGER", "DOUBLE", "DECIMAL")
#: data too long (1406), incorrect string/integer value (1366), truncated (1265), out of range (1264),
#: incorrect datetime (1292), invalid JSON (3140, MariaDB's JSON CHECK: 4025), row too large (1118),
#: packet larger than max_allowed_packet (1153, 1301)
_MYSQL_DATA_REFUSED_CODES: Final = frozenset({1406, 1366, 1265, 1264, 1292, 3140, 4025, 1118, 1153, 1301})
_MYSQL_UNAVAILABLE_CODES: Final = frozenset(
    {1040, 1042, 1043, 1044, 1045, 1049, 1053, 1152, 1927, 2002, 2003, 2005, 2006, 2013, 2055}
)


class MysqlDialect(SqlDialect):
    """MySQL 8 / MariaDB 10.6+ via aiomysql: utf8mb4, READ COMMITTED, SKIP LOCKED, ``GET_LOCK``."""

    name = "mysql"
    label = "MySQL"
    driver_modules = ("pymysql", "aiomysql")
    transactional_ddl = False

    def engine_kwargs(self, pool_size: int | None, max_overflow: int | None, echo: bool) -> dict[str, Any]:
        """READ COMMITTED (no gap locks), a connect timeout, recycling before ``wait_timeout``."""
        kwargs = super().engine_kwargs(pool_size, max_overflow, echo)
        kwargs["isolation_level"] = "READ COMMITTED"
        kwargs["pool_recycle"] = 3600
        # sql_notes=0: notes such as "table already exists" must not become Python warnings
        kwargs["connect_args"] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "init_command": "SET SESSION sql_notes = 0",
        }
        return kwargs

    def install_events(self, engine: AsyncEngine) -> None:
        """Repair aiomysql's bytes escaping when it is broken (see :func:`_repair_aiomysql_bytes`)."""
        _repair_aiomysql_bytes()

    def skip_locked(self, sa_dialect: Dialect) -> bool:
        """MySQL 8.0.1+ and MariaDB 10.6+."""
        version = tuple(getattr(sa_dialect, "server_version_info", None) or ())
        if getattr(sa_dialect, "is_mariadb", False):
            return version >= (10, 6)
        return version >= (8, 0, 1)

    async def upsert_attempt(
        self, conn: AsyncConnection, fence: Select[Any], values: Mapping[str, Any]
    ) -> bool:
        """A locking fence read, then ``INSERT ... ON DUPLICATE KEY UPDATE`` in the same transaction."""
        held = (await conn.execute(fence.with_only_columns(literal(1)).with_for_update(read=True))).first()
        if held is None:
            return False
        stmt = mysql_dialect.insert(ATTEMPTS).values(**values)
        stmt = stmt.on_duplicate_key_update(
            attempts=stmt.inserted.attempts, last_error=stmt.inserted.last_error
        )
        await conn.execute(stmt)
        return True

    def _key_lock_statement(self, token: str) -> Any:
        """``INSERT ... ON DUPLICATE KEY UPDATE``: creates the row or takes its row lock."""
        stmt = mysql_dialect.insert(KEY_LOCKS).values(wait_key=token, touched=0)
        return stmt.on_duplicate_key_update(touched=KEY_LOCKS.c.touched + 1)

    async def upsert_subscription(self, conn: AsyncConnection, values: Mapping[str, Any]) -> None:
        """``INSERT ... ON DUPLICATE KEY UPDATE mode``."""
        stmt = mysql_dialect.insert(SUBSCRIPTIONS).values(**values)
        await conn.execute(stmt.on_duplicate_key_update(mode=stmt.inserted.mode))

    def json_field_equals(self, column: Any, key: str, value: JsonScalar) -> ColumnElement[bool]:
        """``JSON_TYPE`` + ``JSON_UNQUOTE(JSON_EXTRACT(...))``: works on MySQL and MariaDB alike."""
        _check_scalar(value)
        extracted = func.json_extract(column, _json_path(key))
        jtype = func.json_type(extracted)
        unquoted = func.json_unquote(extracted)
        if value is None:
            return jtype == "NULL"
        if isinstance(value, bool):
            return and_(jtype == "BOOLEAN", unquoted == ("true" if value else "false"))
        if isinstance(value, str):
            # compared as bytes: exact, case- and trailing-space-sensitive whatever the collation
            as_bytes = cast(unquoted, LargeBinary) == cast(literal(value), LargeBinary)
            return and_(jtype == "STRING", as_bytes)
        numeric = case(
            (jtype.in_(_MYSQL_NUMBER_TYPES), cast(unquoted, mysql_dialect.DOUBLE)), else_=null()
        ) == float(value)
        if isinstance(value, int):
            exact = and_(jtype.in_(["INTEGER", "UNSIGNED INTEGER"]), unquoted == str(value))
            inexact = and_(jtype.in_(["DOUBLE", "DECIMAL"]), numeric)
            return or_(exact, inexact)
        return numeric

    @asynccontextmanager
    async def migration_lock(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """``GET_LOCK`` named after the current database; released in all cases."""
        name = func.concat("edda_migrate:", func.md5(func.database()))
        got = (await conn.execute(select(func.get_lock(name, MIGRATION_LOCK_TIMEOUT_S)))).scalar()
        if got != 1:
            raise MigrationError(
                f"Timed out after {MIGRATION_LOCK_TIMEOUT_S}s waiting for the MySQL migration lock "
                "(another process is migrating this database)"
            )
        try:
            yield
        finally:
            with contextlib.suppress(DBAPIError):  # connection lost: the lock went with the session
                await conn.execute(select(func.release_lock(name)))

    def _classify_driver(self, orig: BaseException) -> ErrorKind:
        args = getattr(orig, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
        if code in (1062, 1586):
            return ErrorKind.UNIQUE_VIOLATION
        if code == 1213:
            return ErrorKind.DEADLOCK
        if code == 1205:  # lock wait timeout exceeded
            return ErrorKind.LOCK_TIMEOUT
        if code in _MYSQL_DATA_REFUSED_CODES:
            return ErrorKind.DATA_REFUSED
        if code in (1050, 1060, 1061):  # table, column, index already exists
            return ErrorKind.ALREADY_EXISTS
        if code in _MYSQL_UNAVAILABLE_CODES:
            return ErrorKind.UNAVAILABLE
        message = str(orig).lower()
        if "lost connection" in message or "gone away" in message or "not connected" in message:
            return ErrorKind.UNAVAILABLE
        return ErrorKind.OTHER


def _escape_bytes(value: bytes, mapping: object = None) -> str:
    return f"_binary X'{value.hex()}'"


def _repair_aiomysql_bytes() -> None:
    """Make aiomysql bind ``bytes`` again with PyMySQL >= 1.1.2.

    aiomysql 0.3 escapes bytes parameters with ``pymysql.converters.escape_bytes_prefixed``, which newer
    PyMySQL releases replaced by a placeholder string (PyMySQL issue #1274), so every bytes parameter
    fails with ``TypeError: 'str' object is not callable``. When (and only when) that placeholder is
    found, it is replaced by an equivalent hex-literal escape.
    """
    try:
        import aiomysql.connection as aiomysql_connection
    except ImportError:  # pragma: no cover - normalize_url already checked the driver
        return
    if not callable(getattr(aiomysql_connection, "escape_bytes_prefixed", None)):
        aiomysql_connection.escape_bytes_prefixed = _escape_bytes


def dialect_for(backend: str, url: str, *, memory: bool = False) -> SqlDialect:
    """The dialect helper of a backend family (``sqlite``, ``postgresql``, ``mysql``).

    Args:
        backend: the family returned by :func:`durable_core.storage.urls.backend_of`.
        url: the normalized URL.
        memory: True for an in-memory SQLite database.
    """
    if backend == "sqlite":
        return SqliteDialect(url, memory=memory)
    if backend == "postgresql":
        return PostgresDialect(url)
    if backend == "mysql":
        return MysqlDialect(url)
    raise ValueError(f"unknown backend {backend!r}")
