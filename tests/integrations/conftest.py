"""Fixtures for the integration tests: apps on the parametrised backends with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from durable_core import Catalog, EddaApp, FakeClock


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
