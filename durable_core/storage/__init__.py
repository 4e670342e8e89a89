"""Storage: the narrow :class:`Storage` interface and its SQL implementation.

Only this package imports SQLAlchemy. Use :func:`make_storage` to build a storage from a database URL.
"""

from __future__ import annotations

from durable_core.storage.base import LeaseRenewal, Storage, UserTransaction
from durable_core.storage.sql import SqlStorage
from durable_core.storage.urls import mask_url, normalize_url
from durable_core.types import SqliteSynchronous

__all__ = [
    "LeaseRenewal",
    "SqlStorage",
    "Storage",
    "UserTransaction",
    "make_storage",
    "mask_url",
    "normalize_url",
]


def make_storage(
    db_url: str,
    *,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    echo: bool = False,
    sqlite_synchronous: SqliteSynchronous | str | None = None,
) -> Storage:
    """Build the storage for a database URL (call ``await storage.initialize()`` before use).

    Args:
        db_url: ``sqlite:///file.db``, ``sqlite:///:memory:``, ``postgresql://...``, ``postgres://...``,
            ``mysql://...`` or ``mariadb://...`` (explicit ``+aiosqlite``/``+asyncpg``/``+aiomysql``
            drivers are accepted too).
        pool_size: connection pool size (ignored for in-memory SQLite, which has one connection).
        max_overflow: connections allowed above ``pool_size``.
        echo: log every SQL statement.
        sqlite_synchronous: ``"full"`` (default: every commit is on disk before it is acknowledged) or
            ``"normal"`` (faster; the last commits can be lost on power loss) for a SQLite file; the URL
            form is ``sqlite:///app.db?synchronous=normal``. Rejected for PostgreSQL and MySQL.

    Returns:
        A :class:`SqlStorage` (not yet connected).

    Raises:
        InvalidDatabaseURLError: the URL is not one of the accepted forms.
        DriverNotInstalledError: the database driver is missing; the message names the extra to install.
        ValueError: ``sqlite_synchronous`` is not ``"full"``/``"normal"``, is set for a PostgreSQL or
            MySQL URL, or contradicts the URL's ``?synchronous=``.
    """
    return SqlStorage(
        db_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        echo=echo,
        sqlite_synchronous=sqlite_synchronous,
    )
