"""Fixtures for engine tests: apps on the parametrised backends with a private catalog per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from durable_core import Catalog, EddaApp


@pytest.fixture
def catalog() -> Catalog:
    """A catalog private to the test, so workflows defined in tests never leak between tests."""
    return Catalog()


@pytest.fixture
async def make_app(db_url: str, catalog: Catalog) -> AsyncIterator[Callable[..., Any]]:
    """Create initialized apps on the test database; all are shut down at the end."""
    apps: list[EddaApp] = []

    async def factory(**options: Any) -> EddaApp:
        options.setdefault("service_name", "test")
        options.setdefault("workflows", list(catalog))
        options.setdefault("lease_ttl", 5.0)
        options.setdefault("poll_interval", 0.2)
        app = EddaApp(db_url, **options)
        await app.initialize()
        apps.append(app)
        return app

    yield factory
    for app in reversed(apps):
        await app.shutdown()
