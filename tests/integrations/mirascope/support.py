"""Helpers for the durable_mirascope tests."""

from __future__ import annotations

import asyncio
import json

from durable_core import EddaApp, FakeClock, InstanceRecord, InstanceStatus, StepKind


async def wait_parked(app: EddaApp, iid: str) -> None:
    """Wait (bounded) until the instance is stored as WAITING and no run of it is in progress."""
    async with asyncio.timeout(30):
        while True:
            record = await app.get_instance(iid)
            if record.status is InstanceStatus.WAITING and iid not in app._dispatcher.running:
                return
            await asyncio.sleep(0.01)  # re-read the row; bounded by the timeout above


async def wake(app: EddaApp, clock: FakeClock, iid: str, seconds: float) -> None:
    """Let a parked instance's timer fire (the resumed run replays the history from the top)."""
    await wait_parked(app, iid)
    await clock.wait_for_sleepers(1, timeout=30)
    clock.advance(seconds)


async def activity_names(app: EddaApp, iid: str) -> list[str]:
    """Names of the instance's recorded activities, in position order."""
    return [e.name for e in await app.get_history(iid) if e.kind is StepKind.ACTIVITY]


async def history_json(app: EddaApp, iid: str) -> str:
    """Every recorded JSON result of the instance, as one string (to look for leaked code objects)."""
    return json.dumps([e.result.json_value for e in await app.get_history(iid)])


async def wait_status(app: EddaApp, iid: str, status: InstanceStatus) -> InstanceRecord:
    """Wait (bounded) until the instance is stored with ``status``; return its record."""
    async with asyncio.timeout(30):
        while True:
            record = await app.get_instance(iid)
            if record.status is status:
                return record
            await asyncio.sleep(0.01)  # re-read the row; bounded by the timeout above
