"""What differs between SQLite, PostgreSQL and MySQL/MariaDB, one small class (and one file) each.

Queries are written once in :mod:`durable_core.storage.sql`; they ask the dialect only for what differs:
engine arguments and connection set-up, whether ``SKIP LOCKED`` is available, the upserts, the key and
migration locks, wake notifications, how a top-level JSON field is compared, and how to classify a
driver error.
"""

from __future__ import annotations

from durable_core.storage.dialects.base import (
    CONNECT_TIMEOUT_S,
    MIGRATION_LOCK_TIMEOUT_S,
    ErrorKind,
    SqlDialect,
    json_dumps,
)
from durable_core.storage.dialects.mysql import MysqlDialect
from durable_core.storage.dialects.postgres import WAKE_CHANNEL, PostgresDialect
from durable_core.storage.dialects.sqlite import (
    MEMORY_POOL_TIMEOUT_S,
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_MIGRATION_BUSY_TIMEOUT_MS,
    SQLITE_WRITE_OPTION,
    SqliteDialect,
)
from durable_core.types import Backend, SqliteSynchronous

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MEMORY_POOL_TIMEOUT_S",
    "MIGRATION_LOCK_TIMEOUT_S",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_MIGRATION_BUSY_TIMEOUT_MS",
    "SQLITE_WRITE_OPTION",
    "WAKE_CHANNEL",
    "ErrorKind",
    "MysqlDialect",
    "PostgresDialect",
    "SqlDialect",
    "SqliteDialect",
    "dialect_for",
    "json_dumps",
]


def dialect_for(
    backend: Backend | str,
    url: str,
    *,
    memory: bool = False,
    synchronous: SqliteSynchronous = SqliteSynchronous.FULL,
) -> SqlDialect:
    """The dialect helper of a backend family (``sqlite``, ``postgresql``, ``mysql``).

    Args:
        backend: the family returned by :func:`durable_core.storage.urls.backend_of`.
        url: the normalized URL.
        memory: True for an in-memory SQLite database.
        synchronous: SQLite's ``PRAGMA synchronous`` (ignored by the other backends).
    """
    try:
        family = Backend(backend)
    except ValueError:
        raise ValueError(f"unknown backend {backend!r}") from None
    if family is Backend.SQLITE:
        return SqliteDialect(url, memory=memory, synchronous=synchronous)
    if family is Backend.POSTGRESQL:
        return PostgresDialect(url)
    return MysqlDialect(url)
