"""Connections, transactions and error translation for :class:`~durable_core.storage.sql.SqlStorage`.

* :meth:`Connections.write` - a committed write transaction (``BEGIN IMMEDIATE`` on SQLite);
* :meth:`Connections.read` - a connection for reads;
* :meth:`Connections.begin_user_transaction` - the lazy transaction behind an activity's ``ctx.session``;
* :func:`guarded` - turns connection failures into :class:`StorageUnavailableError` (naming the
  database and the operation) and retries deadlocks of idempotent operations.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.base import Executable

from durable_core.errors import StorageBusyError, StorageRefusedError, StorageUnavailableError
from durable_core.storage.base import UserTransaction
from durable_core.storage.dialects import ErrorKind, SqlDialect
from durable_core.types import RecordOutcome
from durable_core.validation import escape_unstorable

__all__ = ["Connections", "SqlUserTransaction", "guarded"]

DEADLOCK_RETRIES: Final = 3

P = ParamSpec("P")
R = TypeVar("R")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        summary = "connection refused"
    elif isinstance(exc, socket.gaierror):
        summary = "the host name could not be resolved"
    elif isinstance(exc, (asyncio.TimeoutError, TimeoutError, PoolTimeoutError)):
        summary = "timed out"
    elif isinstance(exc, DBAPIError) and exc.connection_invalidated:
        summary = "the connection was lost"
    else:
        summary = "connection failed"
    return f"{summary} ({_detail(exc)})"


def _detail(exc: BaseException) -> str:
    """``Type: first line of the driver's message`` (escaped so that it can itself be stored)."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]
    return escape_unstorable(f"{type(orig).__name__}: {detail}")


class SqlUserTransaction(UserTransaction):
    """A lazy transaction: no connection is taken until :attr:`session` is first used.

    The ``AsyncSession`` begins its transaction on first use (``BEGIN IMMEDIATE`` on SQLite);
    ``record_step(tx=...)`` writes the history entry through the session's connection and commits.
    Calling ``session.commit()`` yourself commits the writes made so far without the history entry.
    """

    def __init__(self, owner: Connections) -> None:
        self.owner = owner
        self._session: AsyncSession | None = None
        self.done = False

    @property
    def session(self) -> AsyncSession:
        """The ``AsyncSession`` for this transaction (created, not connected, on first access)."""
        if self.done:
            raise RuntimeError("this user transaction is already committed, rolled back or closed")
        if self._session is None:
            self._session = AsyncSession(bind=self.owner.write_engine, expire_on_commit=False)
        return self._session

    @property
    def used(self) -> bool:
        """Whether :attr:`session` was accessed."""
        return self._session is not None

    @property
    def opened_session(self) -> AsyncSession | None:
        """The session if it was accessed and the transaction is not finished yet."""
        return None if self.done else self._session

    async def commit(self) -> None:
        """Commit the session's transaction (used by ``record_step``)."""
        if self._session is not None:
            await self._session.commit()
        await self.close()

    async def close(self) -> None:
        """Roll back unless committed and return the connection. Idempotent."""
        self.done = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class Connections:
    """Engine plus the dialect helper; hands out connections and translates errors."""

    def __init__(self, engine: AsyncEngine, dialect: SqlDialect, display_url: str) -> None:
        self.engine = engine
        self.dialect = dialect
        self.display_url = display_url
        self.write_engine = dialect.write_engine(engine)
        self._holders: set[asyncio.Task[Any]] = set()
        if dialect.single_connection:
            event.listen(engine.sync_engine.pool, "checkout", self._on_checkout)
            event.listen(engine.sync_engine.pool, "checkin", self._on_checkin)

    def _on_checkout(self, _dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        task = asyncio.current_task()
        record.info["edda_task"] = task
        if task is not None:
            self._holders.add(task)

    def _on_checkin(self, _dbapi_conn: Any, record: Any) -> None:
        task = record.info.pop("edda_task", None)
        self._holders.discard(task)

    def _check_reentry(self) -> None:
        task = asyncio.current_task()
        if task is not None and task in self._holders:
            raise RuntimeError(
                "in-memory SQLite storage has a single connection and this task already holds it (an open "
                "user transaction?); close it first, or use a file database (sqlite:///path.db)"
            )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block exits without an exception."""
        self._check_reentry()
        async with self.write_engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (its implicit transaction is rolled back on exit)."""
        self._check_reentry()
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def raw(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A connection without a transaction begun (migrations manage their own)."""
        self._check_reentry()
        async with (self.write_engine if write else self.engine).connect() as conn:
            yield conn

    def begin_user_transaction(self) -> SqlUserTransaction:
        """A lazy user transaction (the caller closes it)."""
        return SqlUserTransaction(self)

    async def record_in(
        self, tx: UserTransaction, stmt: Executable, params: Mapping[str, Any]
    ) -> RecordOutcome | None:
        """Run the fenced history insert ``stmt`` with ``params`` in ``tx`` and commit; it ends either way.

        Returns:
            The outcome, or None when ``tx``'s session was never used (record without it).
        """
        if not isinstance(tx, SqlUserTransaction) or tx.owner is not self:
            raise ValueError("tx must come from this storage's user_transaction() / begin_user_transaction()")
        session = tx.opened_session
        if session is None:
            if tx.done:
                raise RuntimeError("this user transaction was already committed, rolled back or closed")
            await tx.close()
            return None
        await session.flush()  # the user's pending ORM writes; their errors are the user's
        try:
            conn = await session.connection()
            inserted = (await conn.execute(stmt, dict(params))).rowcount
        except IntegrityError as exc:
            await tx.close()
            if self.dialect.classify(exc) is not ErrorKind.UNIQUE_VIOLATION:
                raise
            return RecordOutcome.CONFLICT
        except BaseException:
            # the transaction is dead (deadlock, lost connection, ...): it must never be retried half-way
            with contextlib.suppress(Exception):
                await tx.close()
            raise
        if inserted != 1:
            await tx.close()
            return RecordOutcome.LEASE_LOST
        await tx.commit()
        return RecordOutcome.RECORDED

    def translate(self, exc: BaseException, operation: str) -> BaseException:
        """An engine error for a classified database error, else ``exc`` unchanged.

        ``StorageUnavailableError`` for connection failures, ``StorageBusyError`` for lock conflicts
        (both transient), ``StorageRefusedError`` for data the database will always refuse.
        """
        kind = self.dialect.classify(exc)
        if kind is ErrorKind.DATA_REFUSED:
            return StorageRefusedError(
                f"The {self.dialect.label} database refused the data written by {operation}: "
                f"{_detail(exc)}. Retrying the same write cannot succeed."
            )
        if kind in (ErrorKind.DEADLOCK, ErrorKind.LOCK_TIMEOUT):
            return StorageBusyError(
                f"The {self.dialect.label} database gave up on a lock during {operation} "
                f"({kind.value}: {_detail(exc)}); the operation can be retried."
            )
        if kind is not ErrorKind.UNAVAILABLE:
            return exc
        return StorageUnavailableError(
            f"Cannot reach the {self.dialect.label} database {self.display_url} during {operation}: "
            f"{_describe(exc)}. {self.dialect.unreachable_hint}; "
            "the operation can be retried once it is reachable."
        )


class _HasConnections(Protocol):
    _conns: Connections


S = TypeVar("S", bound=_HasConnections)


def guarded(
    *, retry_deadlocks: bool = True, operation: str | None = None
) -> Callable[
    [Callable[Concatenate[S, P], Coroutine[Any, Any, R]]],
    Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
]:
    """Decorate a storage method: translate connection errors, retry deadlocks.

    Args:
        retry_deadlocks: re-run the whole method (it must be one idempotent transaction) when the
            database reports a deadlock or serialization failure.
        operation: the name used in error messages (default: the method's name).
    """

    def decorate(
        fn: Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
    ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
        @functools.wraps(fn)
        async def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
            attempt = 0
            while True:
                try:
                    return await fn(self, *args, **kwargs)
                except Exception as exc:  # classify() leaves anything that is not the database's as OTHER
                    kind = self._conns.dialect.classify(exc)
                    if kind is ErrorKind.DEADLOCK and retry_deadlocks and attempt < DEADLOCK_RETRIES:
                        attempt += 1
                        continue
                    translated = self._conns.translate(exc, operation or fn.__name__)
                    if translated is exc:
                        raise
                    raise translated from exc

        return cast("Callable[Concatenate[S, P], Coroutine[Any, Any, R]]", wrapper)

    return decorate
