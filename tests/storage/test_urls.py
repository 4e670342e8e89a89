"""URL normalization and its errors (no database needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_core.errors import DriverNotInstalledError, InvalidDatabaseURLError, StorageUnavailableError
from durable_core.storage import make_storage, urls
from durable_core.storage.urls import is_memory_sqlite, mask_url, normalize_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///app.db", "sqlite+aiosqlite:///app.db"),
        ("sqlite:////abs/dir/app.db", "sqlite+aiosqlite:////abs/dir/app.db"),
        ("sqlite+aiosqlite:///app.db", "sqlite+aiosqlite:///app.db"),
        ("postgresql://u:p@db:5432/edda", "postgresql+asyncpg://u:p@db:5432/edda"),
        ("postgres://u:p@db/edda", "postgresql+asyncpg://u:p@db/edda"),
        ("postgresql+asyncpg://u@db/edda", "postgresql+asyncpg://u@db/edda"),
        ("postgresql://u@db/edda?sslmode=require", "postgresql+asyncpg://u@db/edda?ssl=require"),
        ("mysql://root@db:3306/edda", "mysql+aiomysql://root@db:3306/edda?charset=utf8mb4"),
        ("mysql+aiomysql://root@db/edda?charset=utf8mb4", "mysql+aiomysql://root@db/edda?charset=utf8mb4"),
        ("mariadb://root:pw@db/edda", "mysql+aiomysql://root:pw@db/edda?charset=utf8mb4"),
    ],
)
def test_accepted_forms_normalize_to_async_drivers(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"])
def test_memory_sqlite(url: str) -> None:
    assert is_memory_sqlite(normalize_url(url))
    assert not is_memory_sqlite(normalize_url("sqlite:///file.db"))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite+aiosqlite://", "sqlite:///  "])
def test_sqlite_without_a_path_is_refused_not_a_silent_memory_database(url: str) -> None:
    with pytest.raises(InvalidDatabaseURLError) as info:
        make_storage(url)
    message = str(info.value)
    assert "needs a file path" in message
    assert "sqlite:///:memory: explicitly" in message


def test_tilde_in_a_sqlite_path_is_the_home_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert normalize_url("sqlite:///~/data/app.db") == f"sqlite+aiosqlite:///{tmp_path}/data/app.db"


async def test_tilde_path_opens_the_file_in_the_home_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = make_storage("sqlite:///~/edda-home.db")
    try:
        await store.initialize()
    finally:
        await store.close()
    assert (tmp_path / "edda-home.db").is_file()


async def test_unopenable_sqlite_file_names_the_path_not_a_server(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()  # a directory where the file should be: SQLite cannot open it
    store = make_storage(f"sqlite:///{tmp_path / 'a-directory.db'}")
    try:
        with pytest.raises(StorageUnavailableError) as info:
            await store.initialize()
    finally:
        await store.close()
    message = str(info.value)
    assert "server" not in message
    assert "its directory exists" in message


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "not a url",
        "http://user:hunter2@example.com/db",
        "oracle://scott:hunter2@db/orcl",
        "postgresql+psycopg2://u:hunter2@db/edda",
        "mysql+mysqldb://u:hunter2@db/edda",
        "sqlite://host/file.db",
    ],
)
def test_bad_urls_name_the_url_and_the_accepted_forms(url: str) -> None:
    with pytest.raises(InvalidDatabaseURLError) as info:
        make_storage(url)
    message = str(info.value)
    assert "hunter2" not in message
    assert "Accepted forms" in message
    assert "postgresql://user:password@host:5432/dbname" in message
    assert "sqlite:///:memory:" in message
    if url.strip():
        assert repr(mask_url(url)) in message


def test_mask_url_hides_passwords_even_when_unparsable() -> None:
    assert mask_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert "secret" not in mask_url("weird+scheme://u:secret@h:notaport/db")


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("postgresql://u:hunter2@h/db", "edda-mcp[postgresql]"),
        ("mariadb://u:hunter2@h/db", "edda-mcp[mysql]"),
    ],
)
def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, url: str, extra: str) -> None:
    monkeypatch.setattr(urls, "_module_available", lambda module: False)
    with pytest.raises(DriverNotInstalledError) as info:
        make_storage(url)
    assert f"pip install '{extra}'" in str(info.value)
    assert "hunter2" not in str(info.value)
