"""Fixtures for crash tests: a pool of worker subprocesses and the side-effect log they write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.crash.support import EffectLog, WorkerPool


@pytest.fixture
def effects(tmp_path: Path) -> EffectLog:
    return EffectLog(tmp_path / "effects.log")


@pytest.fixture
async def workers(db_url: str, effects: EffectLog, tmp_path: Path) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(db_url, effects.path, tmp_path)
    try:
        yield pool
    finally:
        await pool.close()
