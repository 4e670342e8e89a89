"""The dialect base class: the behaviour shared by every database plus the hooks that differ.

Queries are written once in :mod:`durable_core.storage.sql`; they ask the dialect only for: engine
arguments and connection set-up, whether ``SKIP LOCKED`` is available, the attempts-table upsert, the
migration lock, how a top-level JSON field is compared, and how to classify a driver error.
"""

from __future__ import annotations

import asyncio
import enum
import json
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Final

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from durable_core.types import Backend, JsonScalar

if TYPE_CHECKING:
    from sqlalchemy import Table

    from durable_core.storage.base import WakeListener
    from durable_core.storage.connections import Connections
    from durable_core.storage.writer import FastWriter

CONNECT_TIMEOUT_S: Final = 10
MIGRATION_LOCK_TIMEOUT_S: Final = 120


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

    name: ClassVar[Backend]
    label: ClassVar[str]
    #: what to check when the database cannot be reached (shown in ``StorageUnavailableError``)
    unreachable_hint: ClassVar[str] = "Check that the database server is running and the URL is right"
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

    def missing_file(self) -> str | None:
        """Why an embedded database file cannot be opened without creating it (None: it exists, or not a file)."""
        return None

    #: lock the fenced instance row in ``INSERT ... SELECT`` (serializes against a claim's UPDATE)
    lock_fence_row: bool = True
    #: a writing transaction is the only writer (SQLite's ``BEGIN IMMEDIATE``): no row locks are needed,
    #: and a history position written under a checked epoch cannot have been taken meanwhile
    sole_writer: ClassVar[bool] = False
    #: other processes can be told about wake-ups inside the committing transaction (``NOTIFY``)
    notifies_wakes: ClassVar[bool] = False

    def write_engine(self, engine: AsyncEngine) -> AsyncEngine:
        """The engine (or a variant of it) that hands out connections for writing transactions."""
        return engine

    def fast_writer(self, conns: Connections) -> FastWriter:
        """The cheapest correct way to run the hot-path writes (see :mod:`durable_core.storage.writer`)."""
        from durable_core.storage.writer import TransactionWriter  # the writer module imports dialects

        return TransactionWriter(conns)

    def wake_listener(
        self, conns: Connections, on_ids: Callable[[list[str]], None], on_connected: Callable[[], None]
    ) -> WakeListener | None:
        """A listener for wake-ups committed by other processes, or None when the database has none."""
        return None

    def lock_rows(
        self, stmt: Select[Any], sa_dialect: Dialect, *, skip_locked: bool = False, of: Table | None = None
    ) -> Select[Any]:
        """``stmt`` with ``FOR UPDATE`` (of ``of`` only), ``SKIP LOCKED`` when asked for and available."""
        skip = skip_locked and self.skip_locked(sa_dialect)
        return stmt.with_for_update(skip_locked=skip, of=of)

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
