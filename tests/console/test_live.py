"""Live updates: a console on another engine than the workers' sees an instance complete, and its event
stream says ``changed``."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from durable_core import EddaApp, InstanceStatus
from edda_mcp.console.app import open_database
from edda_mcp.console.live import ChangeHub, event_stream
from tests.console.support import wait_go


async def _status(app: EddaApp, iid: str, wanted: InstanceStatus) -> None:
    async with asyncio.timeout(20):
        while (await app.get_instance(iid)).status is not wanted:  # noqa: ASYNC110 - runs elsewhere
            await asyncio.sleep(0.02)


async def test_a_console_on_another_engine_sees_an_instance_complete(db_url: str) -> None:
    async with EddaApp(db_url, workflows=[wait_go], poll_interval=0.05) as workers:
        iid = await workers.start(wait_go, {"label": "live"})
        await _status(workers, iid, InstanceStatus.WAITING)
        viewer = open_database(db_url)
        await viewer.initialize()
        hub = ChangeHub(viewer)
        hub.start()
        try:

            async def fingerprint() -> Hashable:
                return (await viewer.get_instance(iid)).status

            # the end of a run in another process is found by the poll (here 0.2 s); wake-ups committed
            # by other processes (PostgreSQL NOTIFY) wake the stream earlier
            stream = event_stream(hub, fingerprint, poll_interval=0.2)
            assert "connected" in await anext(stream)
            await workers.send_event("go", "test", {"n": 1}, instance_id=iid)
            async with asyncio.timeout(15):
                changed = await anext(stream)
            assert changed.startswith("event: changed")
            await stream.aclose()
        finally:
            await hub.stop()
            await viewer.shutdown()
