"""PostgreSQL via asyncpg: row locks, SKIP LOCKED, transactional DDL, advisory migration lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import bindparam, cast, func, literal, select, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from durable_core.storage.dialects.base import (
    CONNECT_TIMEOUT_S,
    ErrorKind,
    SqlDialect,
    _check_scalar,
    _json_path,
    json_dumps,
)
from durable_core.storage.schema import ATTEMPTS, KEY_LOCKS, SUBSCRIPTIONS
from durable_core.types import Backend, JsonScalar

if TYPE_CHECKING:
    from durable_core.storage.base import WakeListener
    from durable_core.storage.connections import Connections
    from durable_core.storage.writer import FastWriter

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


_PG_UNAVAILABLE_STATES: Final = frozenset(
    {"57P01", "57P02", "57P03", "53300", "3D000", "28000", "28P01", "55000"}
)


class PostgresDialect(SqlDialect):
    """PostgreSQL via asyncpg: row locks, SKIP LOCKED, transactional DDL, advisory migration lock."""

    name = Backend.POSTGRESQL
    label = "PostgreSQL"
    driver_modules = ("asyncpg",)
    notifies_wakes = True

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

    def fast_writer(self, conns: Connections) -> FastWriter:
        """Hot-path writes as prepared asyncpg statements."""
        from durable_core.storage.writer import AsyncpgWriter  # the writer module imports dialects

        return AsyncpgWriter(conns)

    def wake_listener(
        self, conns: Connections, on_ids: Callable[[list[str]], None], on_connected: Callable[[], None]
    ) -> WakeListener | None:
        """``LISTEN`` on :data:`WAKE_CHANNEL` over a dedicated asyncpg connection."""
        from durable_core.storage.notify_postgres import PostgresWakeListener  # asyncpg only when used

        return PostgresWakeListener(conns, on_ids, on_connected)

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
