"""``EddaApp`` itself is the ASGI app: mounted under Starlette, and through ``create_wsgi_app``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from durable_core import (
    Catalog,
    EddaApp,
    InstanceStatus,
    WorkflowContext,
    create_wsgi_app,
    wait_event,
    workflow,
)

HEADERS = {
    "ce-specversion": "1.0",
    "ce-type": "approved",
    "ce-source": "tests",
    "content-type": "application/json",
}


def _catalog() -> tuple[Catalog, object]:
    catalog = Catalog()

    @workflow(catalog=catalog)
    async def approval(ctx: WorkflowContext) -> str:
        event = await wait_event(ctx, "approved")
        assert event.metadata.time is not None
        return f"{event.data['by']}@{event.metadata.time.isoformat()}"

    return catalog, approval


async def _waiting(app: EddaApp, iid: str) -> None:
    async with asyncio.timeout(10):
        while (await app.get_instance(iid)).status is not InstanceStatus.WAITING:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_edda_app_mounted_under_starlette(tmp_path: Path) -> None:
    catalog, _ = _catalog()
    app = EddaApp(f"sqlite:///{tmp_path / 'asgi.db'}", workflows=list(catalog))
    api = Starlette(routes=[Mount("/workflows", app=app)])
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        first = await client.post("/workflows/cancel/none")  # first request initializes the app
        assert first.status_code == 404 and first.json()["retryable"] is False
        iid = await app.start("approval")
        await _waiting(app, iid)
        headers = {**HEADERS, "ce-id": "e1", "ce-eddainstanceid": iid, "ce-time": "2026-01-02T03:04:05Z"}
        accepted = await client.post("/workflows/any/path", content=b'{"by": "ann"}', headers=headers)
        assert accepted.status_code == 202, accepted.text
        assert await app.wait_result(iid, timeout=10) == "ann@2026-01-02T03:04:05+00:00"  # the event's time
        bad = await client.post("/workflows/x", content=b"{not json", headers={**HEADERS, "ce-id": "e2"})
        assert bad.status_code == 400 and bad.json()["error_type"] and bad.json()["retryable"] is False
    await app.shutdown()


def test_edda_app_through_wsgi(tmp_path: Path) -> None:
    catalog, _ = _catalog()
    app = EddaApp(f"sqlite:///{tmp_path / 'wsgi.db'}", workflows=list(catalog))
    wsgi = create_wsgi_app(app)
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi), base_url="http://127.0.0.1") as client:
        missing = client.post("/cancel/nope")
        assert missing.status_code == 404
        unknown = client.post(
            "/e", content=b"{}", headers={**HEADERS, "ce-id": "x", "ce-eddainstanceid": "nope"}
        )
        assert unknown.status_code == 404 and unknown.json()["retryable"] is False
