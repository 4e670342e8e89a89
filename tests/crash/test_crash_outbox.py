"""Outbox relayers as real processes: one SIGKILLed mid-delivery, two sharing one outbox.

The receiver (:mod:`tests.support.cloudevents_receiver`, in this process on 127.0.0.1) can hold requests
unanswered. It *processes* an event only when it answers 2xx, and de-duplicates by CloudEvent id, as a
receiver of at-least-once delivery must.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from durable_core import (
    Catalog,
    EddaApp,
    OutboxStatus,
    WorkflowContext,
    activity,
    send_event_transactional,
    workflow,
)
from durable_core.storage.sql import SqlStorage
from durable_core.types import OutboxRecord
from tests.crash.support import READY_TIMEOUT, REPO_ROOT, WorkerProcess, wait_until
from tests.support.cloudevents_receiver import Receiver, serve_receiver

RELAYER_MODULE = "tests.crash.programs.relayer"


async def emit_events(db_url: str, count: int) -> list[str]:
    """Commit ``count`` outbox rows through a workflow's activity; return their CloudEvent ids."""
    catalog = Catalog()

    @activity
    async def emit(ctx: WorkflowContext, count: int) -> list[str]:
        return [
            await send_event_transactional(
                ctx, "order.created", "order-service", {"n": n}, subject=f"orders/{n}"
            )
            for n in range(count)
        ]

    @workflow(catalog=catalog)
    async def emitter(ctx: WorkflowContext, count: int) -> list[str]:
        return await emit(ctx, count)

    async with EddaApp(db_url, "outbox-crash-test", workflows=list(catalog)):
        ids: list[str] = await emitter.start_and_wait(count=count)
    return ids


class Relayers:
    """Spawns relayer processes; anything still running at the end is killed."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.db_url = db_url
        self.tmp_path = tmp_path
        self.procs: list[WorkerProcess] = []

    async def spawn(self, relayer_id: str, target: str, *options: str) -> WorkerProcess:
        stderr_path = self.tmp_path / f"{relayer_id}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                RELAYER_MODULE,
                "--db",
                self.db_url,
                "--target",
                target,
                "--id",
                relayer_id,
                *options,
                cwd=REPO_ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        relayer = WorkerProcess(proc, stderr_path)
        self.procs.append(relayer)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
        assert line.split() == [b"ready", relayer_id.encode()], relayer.stderr()
        return relayer

    def diagnostics(self) -> str:
        return "\n".join(f"--- relayer {r.pid} stderr:\n{r.stderr()[-3000:]}" for r in self.procs)

    async def close(self) -> None:
        for relayer in self.procs:
            if relayer.proc.returncode is None:
                relayer.proc.kill()
                await relayer.proc.wait()


@asynccontextmanager
async def outbox_of(db_url: str) -> AsyncIterator[SqlStorage]:
    storage = SqlStorage(db_url)
    await storage.initialize(auto_migrate=False)
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture
async def relayers(db_url: str, tmp_path: Path) -> AsyncIterator[Relayers]:
    pool = Relayers(db_url, tmp_path)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serve_receiver() as rec:
        yield rec


async def rows(storage: SqlStorage) -> dict[str, OutboxRecord]:
    return {r.event.event_id: r for r in await storage.outbox().list_rows(limit=1000)}


async def test_a_relayer_killed_mid_delivery(db_url: str, relayers: Relayers, receiver: Receiver) -> None:
    """Relayer 1 posts three events; the receiver holds them unanswered; relayer 1 is SIGKILLed. Relayer 2
    delivers every row once the killed relayer's claim expired, with the same CloudEvent ids: the
    receiver processes each event exactly once, and the rows end SENT after two attempts."""
    ids = await emit_events(db_url, 3)
    receiver.hold = asyncio.Event()
    options = ("--visibility", "3", "--request-timeout", "2.5")
    async with outbox_of(db_url) as storage:
        first = await relayers.spawn("relayer-1", receiver.url, *options)
        await wait_until(
            lambda: sorted(receiver.ids()) == sorted(ids),
            "relayer 1 posted every event",
            explain=relayers.diagnostics,
        )
        claimed = await rows(storage)
        for event_id in ids:
            row = claimed[event_id]
            assert row.status is OutboxStatus.PENDING and row.attempts == 1
            assert row.claimed_by is not None and row.claimed_by.startswith("relayer-1:")
        claim_expires = max(r.claimed_until for r in claimed.values() if r.claimed_until is not None)

        await first.kill()
        await wait_until(
            lambda: len(receiver.abandoned) == 3, "the receiver saw relayer 1's connections drop"
        )
        assert receiver.processed == Counter()  # nothing was answered, so nothing was processed
        receiver.hold.set()
        second = await relayers.spawn("relayer-2", receiver.url, *options)

        async def all_sent() -> bool:
            return all(r.status is OutboxStatus.SENT for r in (await rows(storage)).values())

        await wait_until(all_sent, "relayer 2 delivered every row", timeout=30, explain=relayers.diagnostics)
        final = await rows(storage)
        await second.stop()

    assert receiver.processed == Counter({event_id: 1 for event_id in ids})
    assert Counter(receiver.ids()) == Counter({event_id: 2 for event_id in ids})  # at least once, same id
    first_posts, second_posts = receiver.requests[:3], receiver.requests[3:]
    by_id = {r.event_id: r for r in first_posts}
    for request in second_posts:
        assert request.body == by_id[request.event_id].body  # the same event both times
        assert request.at >= claim_expires - timedelta(milliseconds=5)  # not before the claim expired
    for event_id in ids:
        assert final[event_id].attempts == 2 and final[event_id].last_status_code == 200
        assert final[event_id].claimed_by is None
    second.assert_no_engine_errors()


async def test_two_relayer_processes_never_hold_the_same_row(
    db_url: str, relayers: Relayers, receiver: Receiver
) -> None:
    """Two processes claim batches of one outbox at once (PostgreSQL/MySQL: FOR UPDATE SKIP LOCKED;
    SQLite: its write lock). While every request is held in flight, the ids in flight are all different;
    in the end each event was delivered exactly once, by one of them."""
    ids = await emit_events(db_url, 24)
    receiver.hold = asyncio.Event()
    options = ("--batch", "4", "--visibility", "30", "--request-timeout", "20")
    await relayers.spawn("relayer-a", receiver.url + "/a", *options)
    await relayers.spawn("relayer-b", receiver.url + "/b", *options)
    await wait_until(
        lambda: (
            {r.path for r in receiver.requests} == {"/events/a", "/events/b"} and len(receiver.requests) == 8
        ),
        "both relayers have a batch in flight",
        explain=relayers.diagnostics,
    )
    assert len(set(receiver.ids())) == 8  # two batches in flight at once, no row in both
    receiver.hold.set()
    async with outbox_of(db_url) as storage:

        async def all_sent() -> bool:
            return all(r.status is OutboxStatus.SENT for r in (await rows(storage)).values())

        await wait_until(all_sent, "every row was delivered", timeout=30, explain=relayers.diagnostics)
    assert sorted(receiver.ids()) == sorted(ids)  # each exactly once
    assert receiver.processed == Counter({event_id: 1 for event_id in ids})
    for relayer in relayers.procs:
        await relayer.stop()
        relayer.assert_no_engine_errors()
