"""Opening, migrating and closing a SQL database: the lifecycle part of :class:`SqlStorage`.

Kept apart from the queries so ``sql.py`` stays about reading and writing instances. The mixin uses the
connections, dialect and writer that :class:`~durable_core.storage.sql.SqlStorage` sets up.
"""

from __future__ import annotations

from sqlalchemy import literal, select

from durable_core.errors import DatabaseNotFoundError, EddaError, StorageUnavailableError
from durable_core.storage import migrations
from durable_core.storage.connections import Connections, guarded
from durable_core.storage.dialects import SqlDialect
from durable_core.storage.writer import FastWriter

__all__ = ["SqlLifecycle"]


class SqlLifecycle:
    """``initialize``, ``close``, ``migrate``, ``schema_version`` and ``migration_sql`` of a SQL storage."""

    _conns: Connections
    _dialect: SqlDialect
    _writer: FastWriter
    _closed: bool

    @guarded()
    async def initialize(self, *, auto_migrate: bool = True) -> None:
        """Connect, verify the database answers, and apply pending migrations under a lock.

        Raises:
            StorageUnavailableError: the database cannot be reached.
            DatabaseNotFoundError: (``auto_migrate=False``: nothing is created) no file or no Edda schema.
            MigrationError: the schema is newer than this code, or (``auto_migrate=False``) not current.
        """
        problem = self._dialect.preflight() or (None if auto_migrate else self._dialect.missing_file())
        if problem is not None:
            raise (StorageUnavailableError if auto_migrate else DatabaseNotFoundError)(
                f"Cannot open the {self._dialect.label} database {self._conns.display_url}: {problem}"
            )
        async with self._conns.read() as conn:
            await conn.execute(select(literal(1)))
        if auto_migrate:
            await self.migrate()
            return
        version = await self.schema_version()
        try:
            migrations.require_current(version, self._dialect.label, self._conns.display_url)
        except EddaError:
            await self._conns.engine.dispose()  # the caller got no usable storage, so it will not close it
            raise

    async def close(self) -> None:
        """Dispose of the connection pool. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._writer.close()
            await self._conns.engine.dispose()

    @guarded()
    async def migrate(self) -> list[int]:
        """Apply pending migrations under the database's migration lock; return the versions applied."""
        # closing the connection without a commit rolls back
        async with self._conns.raw(write=True) as conn, self._dialect.migration_lock(conn):
            applied = await migrations.apply_pending(conn, self._dialect)
            await conn.commit()
        return applied

    @guarded()
    async def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        async with self._conns.read() as conn:
            return await migrations.read_version(conn)

    def migration_sql(self) -> str:
        """The full DDL of every migration for this database's dialect."""
        return migrations.migration_sql(self._conns.engine.dialect)
