"""Test databases: one fresh database per test on every configured backend.

Server backends come from environment URLs:

* ``EDDA_TEST_POSTGRES_URL`` - e.g. ``postgresql://postgres@127.0.0.1:5432/test``
* ``EDDA_TEST_MYSQL_URL`` - e.g. ``mysql://root@127.0.0.1:3306/test``

A backend without a URL is skipped, unless ``EDDA_TEST_REQUIRE_BACKENDS=1`` (CI), where it fails.
:func:`create_database` makes ``edda_t_<random hex>`` on the server of the env URL (or a file in a
temporary directory for SQLite) and returns its URL; :func:`drop_database` removes it. Both have sync
twins so crash tests running in subprocesses can use them too.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from durable_core.storage.urls import backend_of, normalize_url

BACKENDS: Final = ("sqlite", "postgresql", "mysql")
ENV_VARS: Final = {"postgresql": "EDDA_TEST_POSTGRES_URL", "mysql": "EDDA_TEST_MYSQL_URL"}
REQUIRE_ENV: Final = "EDDA_TEST_REQUIRE_BACKENDS"
DB_PREFIX: Final = "edda_t_"


def server_url(backend: str) -> str | None:
    """The configured server URL of ``backend`` (None when unset or for SQLite)."""
    env = ENV_VARS.get(backend)
    value = os.environ.get(env, "").strip() if env else ""
    return value or None


def backends_required() -> bool:
    """True when a missing backend must fail the run instead of being skipped."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def missing_backend_message(backend: str) -> str:
    """Why ``backend`` cannot run, naming the variable to set."""
    env = ENV_VARS[backend]
    example = (
        "postgresql://postgres@127.0.0.1:5432/test"
        if backend == "postgresql"
        else "mysql://root@127.0.0.1:3306/test"
    )
    return f"{backend} backend: set {env} (e.g. {env}={example}) to run these tests"


def _admin_engine(url: str) -> AsyncEngine:
    backend = backend_of(url)
    kwargs: dict[str, object] = {"poolclass": NullPool, "isolation_level": "AUTOCOMMIT"}
    if backend == "mysql":
        kwargs["connect_args"] = {"init_command": "SET SESSION sql_notes = 0"}
    return create_async_engine(normalize_url(url), **kwargs)


async def create_database(backend: str, tmp_path: Path | None = None) -> str:
    """Create a fresh, empty database and return its URL (in the same spelling as the env URL).

    Args:
        backend: ``sqlite``, ``postgresql`` or ``mysql``.
        tmp_path: directory for the SQLite file (required for SQLite).
    """
    if backend == "sqlite":
        if tmp_path is None:
            raise ValueError("SQLite test databases need a directory")
        return f"sqlite:///{tmp_path / f'{DB_PREFIX}{secrets.token_hex(4)}.db'}"
    base = server_url(backend)
    if base is None:
        raise RuntimeError(missing_backend_message(backend))
    name = f"{DB_PREFIX}{secrets.token_hex(8)}"
    engine = _admin_engine(base)
    try:
        async with engine.connect() as conn:
            if backend == "mysql":
                await conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
            else:
                await conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await engine.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database` (SQLite files go with their temp directory)."""
    backend = backend_of(url)
    if backend == "sqlite":
        return
    name = make_url(url).database or ""
    if not name.startswith(DB_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    admin = server_url(backend) or make_url(url).set(
        database="postgres" if backend == "postgresql" else None
    ).render_as_string(hide_password=False)
    engine = _admin_engine(admin)
    try:
        async with engine.connect() as conn:
            if backend == "postgresql":
                await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    finally:
        await engine.dispose()


def create_database_sync(backend: str, tmp_path: Path | None = None) -> str:
    """Synchronous :func:`create_database` (for subprocess helpers)."""
    return asyncio.run(create_database(backend, tmp_path))


def drop_database_sync(url: str) -> None:
    """Synchronous :func:`drop_database` (for subprocess helpers)."""
    asyncio.run(drop_database(url))


#: Run a test only on the server backends (for behaviour SQLite does not have, e.g. a lost connection);
#: the SQLite case is not generated at all, so nothing is reported as skipped.
servers_only = pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
