"""MySQL 8 / MariaDB 10.6+ via aiomysql: utf8mb4, READ COMMITTED, SKIP LOCKED, ``GET_LOCK``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

from sqlalchemy import LargeBinary, and_, case, cast, func, literal, null, or_, select
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from durable_core.errors import MigrationError
from durable_core.storage.dialects.base import (
    CONNECT_TIMEOUT_S,
    MIGRATION_LOCK_TIMEOUT_S,
    ErrorKind,
    SqlDialect,
    _check_scalar,
    _json_path,
)
from durable_core.storage.schema import ATTEMPTS, KEY_LOCKS, SUBSCRIPTIONS
from durable_core.types import Backend, JsonScalar

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

    name = Backend.MYSQL
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
