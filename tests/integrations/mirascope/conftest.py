"""Fixtures: scripted models (apps come from tests/integrations/conftest.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from mirascope import llm

from durable_mirascope.testing import Script, ScriptedProvider

_SCOPES = itertools.count()


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
