"""The hot path: the few single-statement writes every instance makes, as cheaply as the database allows.

A durable step costs one transaction. The statements that run once per step or per instance (create,
record a history entry, finish) are built once with bound parameters and executed:

* on a SQLite file, group-committed: statements issued during one turn of the event loop are written
  in one transaction at the end of that turn (a savepoint each, so one failing statement cannot fail
  the others). With ``synchronous=FULL`` (the default) every commit waits for an fsync of the
  write-ahead log (milliseconds on a typical disk), so all batches go to a dedicated writer thread and
  the loop keeps running, and queueing the next batch, meanwhile. With ``synchronous=NORMAL`` a commit
  does no fsync and takes tens of microseconds, far less than a hop to a driver thread, so it runs
  inline on the loop when the database's write lock is free. The inline attempt never waits for the
  lock (``busy_timeout=0``); when another connection holds it (a user transaction, a claim), the batch
  goes to the writer thread, which waits for the lock there. Checkpoints of the write-ahead log also
  run in that thread, never on the loop;
* on PostgreSQL as one autocommit statement sent straight through a held asyncpg connection
  (compiled once by SQLAlchemy, no per-call SQLAlchemy execution or pool checkout): one round trip,
  which is its own transaction;
* elsewhere (MySQL, in-memory SQLite) in an ordinary write transaction.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from durable_core.errors import StorageUnavailableError
from durable_core.storage.connections import Connections
from durable_core.storage.dialects import SQLITE_BUSY_TIMEOUT_MS, ErrorKind
from durable_core.types import SqliteSynchronous


class DuplicateKey(Exception):
    """The statement violated a unique key (nothing was written by it)."""


class FastWriter(abc.ABC):
    """Runs prebuilt single-statement writes, each atomically, and returns the rowcount."""

    @abc.abstractmethod
    async def execute(self, stmt: UpdateBase, params: Mapping[str, Any]) -> int:
        """Run ``stmt`` with ``params`` in its own transaction.

        Raises:
            DuplicateKey: a unique key was violated.
        """

    async def close(self) -> None:  # noqa: B027 - only writers that own resources override it
        """Release resources. Idempotent."""


class TransactionWriter(FastWriter):
    """One short write transaction per statement (MySQL, in-memory SQLite)."""

    def __init__(self, conns: Connections) -> None:
        self._conns = conns

    async def execute(self, stmt: UpdateBase, params: Mapping[str, Any]) -> int:
        """Execute in a short write transaction."""
        try:
            async with self._conns.write() as conn:
                return (await conn.execute(stmt, dict(params))).rowcount
        except IntegrityError as exc:
            if self._conns.dialect.classify(exc) is ErrorKind.UNIQUE_VIOLATION:
                raise DuplicateKey(str(exc.orig)) from exc
            raise


class _Compiled:
    """A statement compiled once for a raw driver: SQL text, parameter order and bind processors."""

    def __init__(self, stmt: UpdateBase, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order: Sequence[str] = tuple(compiled.positiontup or ())
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for name in self.order:
            # the dialect-adapted type, as SQLAlchemy itself binds it (e.g. SQLite stores datetimes as
            # fixed-width text with microseconds; the sqlite3 default adapter would not)
            processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors[name] = processor

    def row(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        procs = self.processors
        return tuple(procs[n](params[n]) if n in procs else params[n] for n in self.order)


class AsyncpgWriter(FastWriter):
    """PostgreSQL: each statement is one autocommit round trip on a held asyncpg connection.

    Up to ``size`` pooled connections are checked out once and kept (a checkout per statement costs
    about as much as the statement itself); callers beyond that wait for a free one. At most a third
    of the pool is held, so other storage work is never starved; with a tiny pool nothing is held
    and each statement checks a connection out.
    """

    def __init__(self, conns: Connections, size: int = 4) -> None:
        self._conns = conns
        self._compiled: dict[int, _Compiled] = {}
        pool = conns.engine.pool
        capacity = int(getattr(pool, "size", lambda: 5)()) + max(0, int(getattr(pool, "_max_overflow", 0)))
        self._size = min(size, capacity // 3)
        self._count = 0  # held connections, counting those being opened
        self._held: set[AsyncConnection] = set()
        self._raw: dict[AsyncConnection, Any] = {}  # held connection -> its asyncpg connection
        self._free: list[AsyncConnection] = []
        self._waiters: collections.deque[asyncio.Future[AsyncConnection]] = collections.deque()
        self._closed = False

    async def execute(self, stmt: UpdateBase, params: Mapping[str, Any]) -> int:
        """Execute without a transaction block (a single statement commits by itself)."""
        if self._closed:
            raise StorageUnavailableError(f"the storage of {self._conns.display_url} is closed")
        compiled = self._compiled.get(id(stmt))
        if compiled is None:
            compiled = self._compiled[id(stmt)] = _Compiled(stmt, self._conns.engine.dialect)
        args = compiled.row(params)
        conn = await self._acquire()
        healthy = True
        try:
            raw: Any = self._raw.get(conn)
            if raw is None:
                raw = (await conn.get_raw_connection()).driver_connection
                if conn in self._held:
                    self._raw[conn] = raw
            status: str = await raw.execute(compiled.sql, *args)
        except BaseException as exc:
            if getattr(exc, "sqlstate", None) == "23505":  # unique_violation: the connection is fine
                raise DuplicateKey(str(exc)) from exc
            healthy = False  # lost, or cancelled mid-statement: its state is unknown, never reuse it
            if isinstance(exc, Exception) and _is_connection_error(exc):
                raise StorageUnavailableError(
                    f"Cannot reach the PostgreSQL database {self._conns.display_url}: {exc}"
                ) from exc
            raise
        finally:
            await self._release(conn, healthy)
        return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 1" / "UPDATE 1"

    async def _acquire(self) -> AsyncConnection:
        if self._free:
            return self._free.pop()
        if self._count < self._size:
            self._count += 1  # reserve the slot before awaiting, so concurrent callers cannot overshoot
            try:
                conn = await self._conns.engine.connect()
            except BaseException:
                self._count -= 1
                raise
            self._held.add(conn)
            return conn
        if self._size == 0:
            return await self._conns.engine.connect()
        waiter: asyncio.Future[AsyncConnection] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    async def _release(self, conn: AsyncConnection, healthy: bool) -> None:
        if conn not in self._held:  # a one-off checkout (tiny pool)
            with contextlib.suppress(Exception):
                await (conn.close() if healthy else conn.invalidate())
            return
        if healthy and not self._closed:
            self._hand_over(conn)
            return
        self._held.discard(conn)
        self._raw.pop(conn, None)
        self._count -= 1
        with contextlib.suppress(Exception):
            await (conn.close() if healthy else conn.invalidate())
        while self._waiters and not self._closed:  # a waiter takes over the freed slot
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            try:
                replacement = await self._acquire()
            except BaseException as exc:
                waiter.set_exception(exc if isinstance(exc, Exception) else StorageUnavailableError(str(exc)))
                return
            waiter.set_result(replacement)
            return

    def _hand_over(self, conn: AsyncConnection) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._free.append(conn)

    async def close(self) -> None:
        """Return every held connection to the pool."""
        self._closed = True
        held, self._held, self._free = self._held, set(), []
        self._raw.clear()
        for conn in held:
            with contextlib.suppress(Exception):
                await conn.close()


def _is_connection_error(exc: BaseException) -> bool:
    """A lost or refused connection (asyncpg's own types are not imported outside the notifier)."""
    if isinstance(exc, OSError | ConnectionError | asyncio.TimeoutError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(("08", "57P")):  # connection / operator intervention
        return True
    return type(exc).__name__ in {"ConnectionDoesNotExistError", "InterfaceError", "InternalClientError"}


_Job = tuple[str, tuple[Any, ...], "asyncio.Future[int]"]


class SqliteThreadWriter(FastWriter):
    """Group-committing SQLite writer: a writer thread, or inline on the loop when a commit cannot block.

    Args:
        path: the database file.
        dialect: SQLAlchemy's SQLite dialect (compiles the statements).
        display_url: the URL without password, for error messages.
        synchronous: ``PRAGMA synchronous`` of both connections; only ``NORMAL`` commits inline.
    """

    def __init__(
        self,
        path: str,
        dialect: Dialect,
        display_url: str,
        synchronous: SqliteSynchronous = SqliteSynchronous.FULL,
    ) -> None:
        self._path = path
        self._synchronous = synchronous
        # a FULL commit waits for an fsync: never on the loop
        self._commit_inline = synchronous is SqliteSynchronous.NORMAL
        self._dialect = dialect
        self._display_url = display_url
        self._compiled: dict[int, _Compiled] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edda-sqlite-writer")
        self._local = threading.local()
        self._tick: list[_Job] = []  # issued during the current loop turn
        self._tick_scheduled = False
        self._pending: list[_Job] = []  # waiting for the writer thread
        self._flusher: asyncio.Task[None] | None = None
        self._inline: sqlite3.Connection | None = None
        self._inline_commits = 0
        self._closed = False

    async def execute(self, stmt: UpdateBase, params: Mapping[str, Any]) -> int:
        """Queue the statement for the end of this loop turn; return its rowcount once committed."""
        if self._closed:
            raise StorageUnavailableError(f"the storage of {self._display_url} is closed")
        compiled = self._compiled.get(id(stmt))
        if compiled is None:  # statements are module constants: compile each once
            compiled = self._compiled[id(stmt)] = _Compiled(stmt, self._dialect)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._tick.append((compiled.sql, compiled.row(params), future))
        if not self._tick_scheduled:
            self._tick_scheduled = True
            loop.call_soon(self._end_of_tick)
        return await future

    def _end_of_tick(self) -> None:
        self._tick_scheduled = False
        batch, self._tick = self._tick, []
        if not batch:
            return
        if self._flusher is None and self._commit_inline:  # never overtake statements queued for the thread
            try:
                results = self._write_inline(batch)
            except sqlite3.Error as exc:
                _fail(batch, self._unavailable(exc))
                return
            except Exception as exc:  # never leave a caller waiting on its future
                _fail(batch, exc)
                return
            if results is not None:
                _resolve(batch, results)
                return
        self._pending.extend(batch)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def _write_inline(self, batch: list[_Job]) -> list[int | Exception] | None:
        """Commit the batch on the loop thread; None if another connection holds the write lock."""
        conn = self._inline
        if conn is None:
            conn = self._inline = _open(
                self._path, self._synchronous, busy_timeout_ms=0, autocheckpoint=False
            )
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return None  # locked: the writer thread will wait for it
        results = _run_batch(conn, [(sql, row) for sql, row, _ in batch], begun=True)
        self._inline_commits += 1
        if self._inline_commits % _CHECKPOINT_EVERY == 0:
            # The inline connection never checkpoints (that does I/O); the writer thread does.
            self._executor.submit(self._checkpoint)
        return results

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                jobs = [(sql, row) for sql, row, _ in batch]
                try:
                    results = await loop.run_in_executor(self._executor, self._write_in_thread, jobs)
                except sqlite3.Error as exc:
                    _fail(batch, self._unavailable(exc))
                    continue
                except Exception as exc:  # never leave a caller waiting on its future
                    _fail(batch, exc)
                    continue
                _resolve(batch, results)
        finally:
            self._flusher = None

    def _write_in_thread(self, jobs: list[tuple[str, tuple[Any, ...]]]) -> list[int | Exception]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _open(
                self._path, self._synchronous, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, autocheckpoint=True
            )
        return _run_batch(conn, jobs, begun=False)

    def _checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._write_in_thread([])  # opens the thread's connection if needed
            self._local.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _unavailable(self, exc: sqlite3.Error) -> StorageUnavailableError:
        return StorageUnavailableError(f"Cannot write to the SQLite database {self._display_url}: {exc}")

    async def close(self) -> None:
        """Finish queued writes, stop the writer thread and close both connections."""
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            await self._flusher
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_CHECKPOINT_EVERY = 500


def _refused(exc: Exception) -> bool:
    """Whether SQLite (or binding the parameters) refuses this job's data, whatever else is in the batch."""
    if isinstance(exc, UnicodeError | sqlite3.InterfaceError | sqlite3.DataError):
        return True  # e.g. a lone surrogate cannot be encoded; a parameter cannot be bound
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    return name.startswith(("SQLITE_TOOBIG", "SQLITE_MISMATCH"))


def _run_batch(
    conn: sqlite3.Connection, jobs: list[tuple[str, tuple[Any, ...]]], *, begun: bool
) -> list[int | Exception]:
    """One transaction for all jobs, a savepoint per job; a unique violation or refused data fails only its job."""
    if not begun:
        conn.execute("BEGIN IMMEDIATE")
    single = len(jobs) == 1
    results: list[int | Exception] = []
    try:
        for sql, row in jobs:
            if not single:
                conn.execute("SAVEPOINT edda_job")
            try:
                results.append(conn.execute(sql, row).rowcount)
            except sqlite3.IntegrityError as exc:
                results.append(DuplicateKey(str(exc)))
                if not single:
                    conn.execute("ROLLBACK TO edda_job")
            except Exception as exc:
                if not _refused(exc):
                    raise
                results.append(exc)
                if not single:
                    conn.execute("ROLLBACK TO edda_job")
            finally:
                if not single:
                    conn.execute("RELEASE edda_job")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


def _resolve(batch: list[_Job], results: list[int | Exception]) -> None:
    for (_, _, future), result in zip(batch, results, strict=True):
        if future.done():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)


def _fail(batch: list[_Job], error: Exception) -> None:
    for _, _, future in batch:
        if not future.done():
            future.set_exception(error)


def _open(
    path: str, synchronous: SqliteSynchronous, *, busy_timeout_ms: int, autocheckpoint: bool
) -> sqlite3.Connection:
    """A ``sqlite3`` connection with the engine's pragmas, in autocommit mode (we issue BEGIN)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    for pragma in (
        f"PRAGMA busy_timeout = {busy_timeout_ms}",
        "PRAGMA journal_mode = WAL",
        f"PRAGMA synchronous = {synchronous.name}",
        "PRAGMA foreign_keys = ON",
        "PRAGMA wal_autocheckpoint = 1000" if autocheckpoint else "PRAGMA wal_autocheckpoint = 0",
    ):
        conn.execute(pragma)
    return conn
