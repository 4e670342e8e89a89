"""The hot path: the few single-statement writes every instance makes, as cheaply as the database allows.

A durable step costs one transaction. The statements that run once per step or per instance (create,
record a history entry, finish) are built once with bound parameters and executed:

* on a SQLite file through a dedicated writer thread that owns one ``sqlite3`` connection and
  group-commits: every statement queued while the previous commit ran goes into the next transaction
  (a savepoint each, so one failing statement cannot fail the others). A lone statement costs one
  thread hop, the same as the driver's own single-row commit;
* on PostgreSQL as one autocommit statement: one round trip, which is its own transaction;
* elsewhere (MySQL, in-memory SQLite) in an ordinary write transaction.
"""

from __future__ import annotations

import abc
import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import UpdateBase

from durable_core.errors import StorageUnavailableError
from durable_core.storage.connections import Connections
from durable_core.storage.dialects import SQLITE_BUSY_TIMEOUT_MS, ErrorKind


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
    """One write transaction per statement, or one autocommit statement where that is a transaction."""

    def __init__(self, conns: Connections, *, autocommit: bool) -> None:
        self._conns = conns
        self._autocommit_engine: AsyncEngine | None = (
            conns.engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else None
        )

    async def execute(self, stmt: UpdateBase, params: Mapping[str, Any]) -> int:
        """Execute in autocommit mode (PostgreSQL) or in a short write transaction."""
        try:
            if self._autocommit_engine is not None:
                async with self._autocommit_engine.connect() as conn:
                    return (await conn.execute(stmt, dict(params))).rowcount
            async with self._conns.write() as conn:
                return (await conn.execute(stmt, dict(params))).rowcount
        except IntegrityError as exc:
            if self._conns.dialect.classify(exc) is ErrorKind.UNIQUE_VIOLATION:
                raise DuplicateKey(str(exc.orig)) from exc
            raise


class _Compiled:
    """A statement compiled once for sqlite3: SQL text, parameter order and bind processors."""

    def __init__(self, stmt: UpdateBase, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order: Sequence[str] = tuple(compiled.positiontup or ())
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for name in self.order:
            processor = compiled.binds[name].type.bind_processor(dialect)
            if processor is not None:
                self.processors[name] = processor

    def row(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        procs = self.processors
        return tuple(procs[n](params[n]) if n in procs else params[n] for n in self.order)


_Job = tuple[str, tuple[Any, ...], "asyncio.Future[int]"]


class SqliteThreadWriter(FastWriter):
    """Group-committing writer thread for a SQLite database file."""

    def __init__(self, path: str, dialect: Dialect, display_url: str) -> None:
        self._path = path
        self._dialect = dialect
        self._display_url = display_url
        self._compiled: dict[int, _Compiled] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edda-sqlite-writer")
        self._local = threading.local()
        self._pending: list[_Job] = []
        self._flushing = False
        self._closed = False

    async def execute(self, stmt: UpdateBase, params: Mapping[str, Any]) -> int:
        """Queue the statement; the first caller writes every queued statement in one transaction."""
        if self._closed:
            raise StorageUnavailableError(f"the storage of {self._display_url} is closed")
        compiled = self._compiled.get(id(stmt))
        if compiled is None:  # statements are module constants: compile each once
            compiled = self._compiled[id(stmt)] = _Compiled(stmt, self._dialect)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((compiled.sql, compiled.row(params), future))
        if not self._flushing:
            await self._flush()
        return await future

    async def _flush(self) -> None:
        self._flushing = True
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                jobs = [(sql, row) for sql, row, _ in batch]
                try:
                    results = await loop.run_in_executor(self._executor, self._write_batch, jobs)
                except sqlite3.Error as exc:
                    error = StorageUnavailableError(
                        f"Cannot write to the SQLite database {self._display_url}: {exc}"
                    )
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, DuplicateKey):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = False

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            for pragma in (
                f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
            ):
                conn.execute(pragma)
            self._local.conn = conn
        return conn

    def _write_batch(self, jobs: list[tuple[str, tuple[Any, ...]]]) -> list[int | DuplicateKey]:
        """Runs in the writer thread: one transaction for the batch, a savepoint per statement."""
        conn = self._connection()
        single = len(jobs) == 1
        results: list[int | DuplicateKey] = []
        conn.execute("BEGIN IMMEDIATE")
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
                finally:
                    if not single:
                        conn.execute("RELEASE edda_job")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    async def close(self) -> None:
        """Stop the writer thread and close its connection."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
