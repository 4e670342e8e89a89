"""Fixtures: apps on the parametrised backends with a private catalog and fake clock; scripted models."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from mirascope import llm

from durable_core import Catalog, EddaApp, FakeClock
from durable_mirascope.testing import Script, ScriptedProvider

_SCOPES = itertools.count()


@pytest.fixture
def catalog() -> Catalog:
    """A catalog private to the test."""
    return Catalog()


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock: timers fire only when the test advances it."""
    return FakeClock()


@pytest.fixture
async def make_app(db_url: str, catalog: Catalog, clock: FakeClock) -> AsyncIterator[Callable[..., Any]]:
    """Create initialized apps on the test database; all are shut down at the end."""
    apps: list[EddaApp] = []

    async def factory(**options: Any) -> EddaApp:
        options.setdefault("workflows", list(catalog))
        options.setdefault("clock", clock)
        options.setdefault("lease_ttl", 5.0)
        options.setdefault("poll_interval", 0.2)
        app = EddaApp(db_url, "mirascope-test", **options)
        await app.initialize()
        apps.append(app)
        return app

    yield factory
    for app in reversed(apps):
        await app.shutdown()


@pytest.fixture
def scripted() -> Iterator[Callable[..., tuple[ScriptedProvider, str]]]:
    """Register scripted providers under fresh scopes: ``provider, model_id = scripted(script)``."""

    def register(script: Script) -> tuple[ScriptedProvider, str]:
        provider = ScriptedProvider(script)
        scope = f"scripted-{next(_SCOPES)}/"
        llm.register_provider(provider, scope=scope)
        return provider, f"{scope}model"

    yield register
    llm.reset_provider_registry()
