"""Fixtures for the integration tests: apps on the parametrised backends with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from durable_core import Catalog, EddaApp, FakeClock
from tests.integrations.pydantic_graph.support import Workers


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock: timers fire only when the test advances it."""
    return FakeClock()


@pytest.fixture
async def make_app(db_url: str, catalog: Catalog, clock: FakeClock) -> AsyncIterator[Callable[..., Any]]:
    """Create initialized apps (on the fake clock) on the test database; all are shut down at the end."""
    apps: list[EddaApp] = []

    async def factory(**options: Any) -> EddaApp:
        options.setdefault("workflows", list(catalog))
        options.setdefault("clock", clock)
        options.setdefault("lease_ttl", 5.0)
        options.setdefault("poll_interval", 0.2)
        app = EddaApp(db_url, "integration-test", **options)
        await app.initialize()
        apps.append(app)
        return app

    yield factory
    for app in reversed(apps):
        await app.shutdown()


@pytest.fixture
async def workers(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Workers]:
    """Crash-test worker processes of the test module's ``WORKER_MODULE``; all are stopped at the end."""
    pool = Workers(request.module.WORKER_MODULE, db_url, tmp_path / "effects.log", tmp_path)
    try:
        yield pool
    finally:
        await pool.close()
