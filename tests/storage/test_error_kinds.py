"""Storage errors are told apart: data the database always refuses versus transient failures.

Real refusals on the servers (an over-long value; a NUL character in ``jsonb`` on PostgreSQL), and the
dialects' classification of the driver errors that are hard to provoke on demand (lock timeouts).
"""

from __future__ import annotations

import sqlite3

import pytest

from durable_core.errors import StorageRefusedError
from durable_core.storage.dialects import ErrorKind, MysqlDialect, PostgresDialect, SqliteDialect
from durable_core.storage.sql import SqlStorage
from durable_core.types import Payload, PayloadEncoding
from tests.backends import servers_only
from tests.storage.support import new_instance


@servers_only  # SQLite does not enforce VARCHAR sizes: the edge validation is what bounds them there
async def test_an_over_long_value_is_refused_for_good(storage: SqlStorage) -> None:
    with pytest.raises(StorageRefusedError, match="refused the data written by create_instance"):
        await storage.create_instance(new_instance("too-long", workflow="w" * 300))
    assert await storage.get_instance("too-long") is None
    await storage.create_instance(new_instance("fine"))  # the storage is still usable
    assert await storage.get_instance("fine") is not None


async def test_a_lone_surrogate_is_refused_on_every_backend(storage: SqlStorage) -> None:
    poison = Payload(PayloadEncoding.JSON, json_value={"text": "\ud800"})
    with pytest.raises(StorageRefusedError):
        await storage.create_instance(new_instance("surrogate", input=poison))
    assert await storage.get_instance("surrogate") is None


class _AsyncpgLike(Exception):
    __module__ = "asyncpg.exceptions"

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


class _PyMySQLLike(Exception):
    __module__ = "pymysql.err"


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        ("22001", ErrorKind.DATA_REFUSED),  # value too long
        ("22P05", ErrorKind.DATA_REFUSED),  # \u0000 in jsonb
        ("54000", ErrorKind.DATA_REFUSED),  # program limit exceeded
        ("55P03", ErrorKind.LOCK_TIMEOUT),
        ("40P01", ErrorKind.DEADLOCK),
        ("40001", ErrorKind.DEADLOCK),
        ("57P01", ErrorKind.UNAVAILABLE),
        ("23505", ErrorKind.UNIQUE_VIOLATION),
        ("42601", ErrorKind.OTHER),  # a syntax error is the engine's bug, not the data's
    ],
)
def test_postgres_classification(state: str, kind: ErrorKind) -> None:
    assert PostgresDialect("postgresql+asyncpg://x/y").classify(_AsyncpgLike(state)) is kind


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (1406, ErrorKind.DATA_REFUSED),  # data too long
        (1366, ErrorKind.DATA_REFUSED),  # incorrect string value
        (4025, ErrorKind.DATA_REFUSED),  # MariaDB: JSON CHECK constraint
        (1205, ErrorKind.LOCK_TIMEOUT),
        (1213, ErrorKind.DEADLOCK),
        (2013, ErrorKind.UNAVAILABLE),
        (1062, ErrorKind.UNIQUE_VIOLATION),
        (1064, ErrorKind.OTHER),
    ],
)
def test_mysql_classification(code: int, kind: ErrorKind) -> None:
    assert MysqlDialect("mysql+aiomysql://x/y").classify(_PyMySQLLike(code, "message")) is kind


def test_sqlite_classification_and_transience() -> None:
    dialect = SqliteDialect("sqlite+aiosqlite:///x.db", memory=False)
    too_big = sqlite3.DataError("string or blob too big")
    assert dialect.classify(too_big) is ErrorKind.DATA_REFUSED
    assert dialect.classify(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")) is (
        ErrorKind.DATA_REFUSED
    )
    assert dialect.classify(ValueError("not the database's")) is ErrorKind.OTHER
    assert {kind for kind in ErrorKind if kind.transient} == {
        ErrorKind.UNAVAILABLE,
        ErrorKind.DEADLOCK,
        ErrorKind.LOCK_TIMEOUT,
    }
