"""Fixtures for the durable_pydantic_ai tests: the agents' catalog, counters reset per test."""

from __future__ import annotations

import pytest

from durable_core import Catalog
from tests.integrations.pydantic_ai import agents


@pytest.fixture
def catalog() -> Catalog:
    return agents.CATALOG


@pytest.fixture(autouse=True)
def _reset_counters() -> None:
    agents.CALLS.clear()
    agents.STREAMED.clear()
    agents.deleted.clear()
