"""``EddaApp(open_existing=True)``: operator tools open a database without creating or migrating it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from durable_core import DatabaseNotFoundError, EddaApp, MigrationError
from durable_core.storage.schema import SCHEMA_VERSION
from durable_core.storage.sql import SqlStorage


def _files_in(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def _touch(path: str) -> None:
    Path(path).touch()


async def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "tpyo.db"
    app = EddaApp(f"sqlite:///{path}", open_existing=True, run_workers=False)
    with pytest.raises(DatabaseNotFoundError, match=r"tpyo\.db.*does not exist"):
        await app.initialize()
    assert _files_in(tmp_path) == []


async def test_a_database_without_the_schema_is_named_and_stays_empty(backend: str, db_url: str) -> None:
    if backend == "sqlite":  # an empty file, as a mistyped path to someone else's SQLite file would be
        _touch(make_url(db_url).database or "")
    app = EddaApp(db_url, open_existing=True, run_workers=False)
    with pytest.raises(DatabaseNotFoundError, match="holds no Edda schema"):
        await app.initialize()
    store = SqlStorage(db_url)
    try:
        assert await store.schema_version() == 0  # nothing was created
    finally:
        await store.close()


async def test_an_older_schema_is_refused_without_migrating(db_url: str) -> None:
    store = SqlStorage(db_url)
    await store.initialize()
    try:
        latest = await store.schema_version()
        # pretend the database is one version behind
        async with store._conns.raw(write=True) as conn:
            await conn.execute(delete(SCHEMA_VERSION).where(SCHEMA_VERSION.c.version == latest))
            await conn.commit()
        behind = await store.schema_version()
    finally:
        await store.close()
    app = EddaApp(db_url, open_existing=True, run_workers=False)
    with pytest.raises(MigrationError, match=f"schema version {behind}; this code needs {latest}"):
        await app.initialize()
    store = SqlStorage(db_url)
    try:
        assert await store.schema_version() == behind < latest  # not migrated
    finally:
        await store.close()


async def test_a_current_database_opens_and_answers_queries(db_url: str) -> None:
    async with EddaApp(db_url, run_workers=False):
        pass  # creates the schema
    async with EddaApp(db_url, open_existing=True, run_workers=False) as app:
        assert await app.list_instances() == []
