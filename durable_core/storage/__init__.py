"""Storage: the narrow :class:`Storage` interface and its SQL implementation.

Only this package imports SQLAlchemy. Use :func:`make_storage` to build a storage from a database URL.
"""

from __future__ import annotations

from durable_core.storage.base import LeaseRenewal, Storage, UserTransaction
from durable_core.storage.sql import SqlStorage
from durable_core.storage.urls import mask_url, normalize_url

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
    db_url: str, *, pool_size: int | None = None, max_overflow: int | None = None, echo: bool = False
) -> Storage:
    """Build the storage for a database URL (call ``await storage.initialize()`` before use).

    Args:
        db_url: ``sqlite:///file.db``, ``sqlite:///:memory:``, ``postgresql://...``, ``postgres://...``,
            ``mysql://...`` or ``mariadb://...`` (explicit ``+aiosqlite``/``+asyncpg``/``+aiomysql``
            drivers are accepted too).
        pool_size: connection pool size (ignored for in-memory SQLite, which has one connection).
        max_overflow: connections allowed above ``pool_size``.
        echo: log every SQL statement.

    Returns:
        A :class:`SqlStorage` (not yet connected).

    Raises:
        InvalidDatabaseURLError: the URL is not one of the accepted forms.
        DriverNotInstalledError: the database driver is missing; the message names the extra to install.
    """
    return SqlStorage(db_url, pool_size=pool_size, max_overflow=max_overflow, echo=echo)
