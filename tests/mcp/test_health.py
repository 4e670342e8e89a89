"""``/healthz`` and ``/readyz``: probes that need no token and say no more than one word of why."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import httpx
from starlette.applications import Starlette

from durable_core import EddaApp, StorageUnavailableError
from edda_mcp.health import health_routes
from tests.mcp.support import http_server


async def test_a_served_app_answers_both_probes_over_real_http(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'health.db'}"
    async with http_server(db_url, tmp_path) as (url, _), httpx.AsyncClient() as http:
        base = url.removesuffix("/mcp")
        alive = await http.get(f"{base}/healthz")
        ready = await http.get(f"{base}/readyz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


class _Engine:
    """An engine whose database fails or hangs, as the probe sees it."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.release = asyncio.Event()

    async def list_instances(self, limit: int) -> list[Any]:
        if self.behaviour == "down":
            raise StorageUnavailableError("Cannot reach postgresql://user:secret@db/app")
        await self.release.wait()
        return []


async def _probe(engine: _Engine, path: str, timeout: float = 5.0) -> httpx.Response:
    app = Starlette(routes=health_routes(lambda: cast(EddaApp, engine), timeout=timeout))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as http:
        return await http.get(path)


async def test_readiness_fails_while_the_database_is_down_without_leaking_the_error() -> None:
    response = await _probe(_Engine("down"), "/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "StorageUnavailableError"}
    assert "secret" not in response.text
    assert (await _probe(_Engine("down"), "/healthz")).status_code == 200  # alive: do not restart


async def test_readiness_fails_when_the_database_does_not_answer_in_time() -> None:
    response = await _probe(_Engine("hang"), "/readyz", timeout=0.05)
    assert (response.status_code, response.json()["reason"]) == (503, "database timeout")
