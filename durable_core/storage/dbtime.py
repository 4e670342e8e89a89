"""The database server's clock as a SQL expression, for decisions that several hosts must agree on.

The engine passes its own clock's time to storage everywhere else (so tests can skip time). Worker
liveness is the exception: whether a process is dead is decided by comparing times that *different
hosts* wrote, so both the writing and the comparing use the database's clock and a skewed host clock
cannot make a live worker look dead (or a dead one alive).

:class:`DatabaseNow` renders as the server's current UTC time plus a fixed offset, in the storage format
of :class:`~durable_core.storage.schema.UTCDateTime` on each dialect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from durable_core.storage.schema import UTCDateTime

__all__ = ["DatabaseNow"]


class DatabaseNow(ColumnElement[datetime]):
    """``<database server time, UTC> + offset`` (the offset is rendered into the SQL as a constant).

    Args:
        offset: added to the server's time (may be negative).
    """

    __visit_name__ = "edda_database_now"
    inherit_cache = True
    _traverse_internals = [("micros", InternalTraversal.dp_plain_obj)]  # noqa: RUF012 - SQLAlchemy's protocol
    type = UTCDateTime()

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.micros = int(offset / timedelta(microseconds=1))


@compiles(DatabaseNow, "postgresql")
def _postgresql(element: DatabaseNow, compiler: Any, **kw: Any) -> str:
    # statement_timestamp(): the statement's start (now() would be the transaction's start)
    return f"(statement_timestamp() + INTERVAL '{element.micros} microseconds')"


@compiles(DatabaseNow, "mysql")
@compiles(DatabaseNow, "mariadb")
def _mysql(element: DatabaseNow, compiler: Any, **kw: Any) -> str:
    # UTC_TIMESTAMP does not depend on the session time zone; DATETIME(6) columns hold naive UTC
    return f"(UTC_TIMESTAMP(6) + INTERVAL {element.micros} MICROSECOND)"


@compiles(DatabaseNow, "sqlite")
def _sqlite(element: DatabaseNow, compiler: Any, **kw: Any) -> str:
    # 'now' is UTC with millisecond precision; pad to the six fraction digits SQLAlchemy stores
    seconds = element.micros / 1_000_000
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', '{seconds:+.6f} seconds') || '000')"
