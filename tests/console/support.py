"""Workflows that exercise every part of the console, and a console served by uvicorn in a thread.

The engine and three consoles (plain at ``/``, read-only at ``/ro``, token-protected at ``/auth``) share
one event loop in a background thread, so sync Playwright tests can drive the pages while the test
starts instances and waits for them through :meth:`ServedConsole.call`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

import uvicorn
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.routing import Mount

from durable_core import (
    EddaApp,
    InstanceStatus,
    Queue,
    RateLimit,
    RetryPolicy,
    TerminalError,
    Workflow,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    run_child,
    sleep,
    wait_event,
    workflow,
)
from edda_mcp.console import console_app

TOKEN = "console-test-token-0123456789"
QUICK = RetryPolicy(max_attempts=4, initial_interval=0.01, max_interval=0.02, jitter=0)
FLAKY: dict[str, int] = {}
DRIFT = {"on": False}


class Approval(BaseModel):
    """What the approver answers."""

    approver: str
    approved: bool
    seats: int


@compensation
async def release_stock(ctx: WorkflowContext, item: str) -> None:
    return None


@activity(retry_policy=QUICK)
@on_failure(release_stock)
async def reserve_stock(ctx: WorkflowContext, item: str) -> dict[str, str]:
    FLAKY[item] = FLAKY.get(item, 0) + 1
    if FLAKY[item] < 3:  # the first two attempts fail: the timeline shows three attempts
        raise ConnectionError(f"stock service unavailable (attempt {FLAKY[item]})")
    return {"reserved": item}


@activity
async def charge_card(ctx: WorkflowContext, amount: int) -> None:
    raise TerminalError(f"card declined for {amount}")


@workflow
async def ship(ctx: WorkflowContext, item: str) -> str:
    return f"parcel-{item}"


@workflow
async def order(ctx: WorkflowContext, item: str, amount: int) -> None:
    """Retries, a timer, a child, then a failing charge: compensation runs."""
    await reserve_stock(ctx, item)
    await sleep(ctx, 0.05)
    await run_child(ctx, ship, item)
    await charge_card(ctx, amount)


@workflow
async def approve(ctx: WorkflowContext, request: str) -> dict[str, Any]:
    """Waits for typed human input."""
    event = await wait_event(ctx, "approval", model=Approval)
    return {"request": request, "approved_by": event.data.approver, "seats": event.data.seats}


@workflow
async def wait_go(ctx: WorkflowContext, label: str) -> Any:
    """Waits for a plain ``go`` event."""
    event = await wait_event(ctx, "go")
    return event.data


@activity
async def step_a(ctx: WorkflowContext) -> str:
    return "a"


@activity
async def step_b(ctx: WorkflowContext) -> str:
    return "b"


@workflow
async def drifting(ctx: WorkflowContext) -> str:
    """Blocks (non-determinism) when DRIFT is switched on between its runs."""
    first = await (step_b(ctx) if DRIFT["on"] else step_a(ctx))
    await wait_event(ctx, "continue")
    return first


@workflow
async def greet(ctx: WorkflowContext, name: str) -> str:
    return f"hello {name}"


#: per topic, released by the test to let ``narrate`` write its last chunk (threads: the browser tests)
GATES: dict[str, threading.Event] = {}
NARRATED: dict[str, int] = {}
#: what ``narrate`` writes after the gate opens: markup that must be shown as text, never run
LAST_WORDS = "the end <script>document.title='owned'</script>"


@activity(retry_policy=QUICK)
async def narrate(ctx: WorkflowContext, topic: str) -> int:
    """Writes a chunk and fails on attempt 1 (abandoned chunks), then writes, waits for its gate, closes."""
    out = ctx.stream("story")
    attempt = NARRATED[topic] = NARRATED.get(topic, 0) + 1
    out.write(f"attempt {attempt} of <b>{topic}</b>")
    await out.flush()
    if attempt == 1:
        raise ConnectionError("cut off mid-story")
    gate = GATES.get(topic)
    if gate is not None:
        await asyncio.to_thread(gate.wait, 60)
    out.write(LAST_WORDS)
    await out.close()
    return attempt


@workflow
async def storyteller(ctx: WorkflowContext, topic: str) -> int:
    """One streaming step (see :func:`narrate`)."""
    return await narrate(ctx, topic)


@activity
async def hold_slot(ctx: WorkflowContext, gate: str) -> str:
    """Runs until the test opens the gate: the instance keeps its queue slot meanwhile."""
    event = GATES.setdefault(gate, threading.Event())
    await asyncio.to_thread(event.wait, 60)
    return gate


@workflow(queue="console-q")
async def queued_job(ctx: WorkflowContext, gate: str) -> str:
    """A run of the ``console-q`` queue that holds its slot until its gate opens."""
    return await hold_slot(ctx, gate)


#: one slot, one per key, a rate limit that does not slow the tests down: a second job waits for the slot
QUEUES = [
    Queue(
        "console-q",
        concurrency=1,
        per_key_concurrency=1,
        rate_limit=RateLimit(100, per=timedelta(minutes=1), burst=10),
    )
]
RATE_LIMITS = {"console-api": RateLimit(10, per=timedelta(seconds=1))}

WORKFLOWS: list[Workflow[Any, Any]] = [
    order,
    ship,
    approve,
    wait_go,
    drifting,
    greet,
    storyteller,
    queued_job,
]


class ServedConsole:
    """An engine running :data:`WORKFLOWS` and the consoles, served on 127.0.0.1 from a thread."""

    def __init__(self, db_url: str, *, redact: Any = None) -> None:
        self.db_url = db_url
        self._redact = redact
        self._loop = asyncio.new_event_loop()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app: EddaApp | None = None
        self._consoles: list[Starlette] = []
        self._server: uvicorn.Server | None = None
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="console-server", daemon=True)

    def __enter__(self) -> ServedConsole:
        self._thread.start()
        self._started.result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        for console in self._consoles:  # ends the open event streams, so the server stops at once
            self.call(console.state.console.hub.stop())
        if self._server is not None:
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        self._thread.join(timeout=30)

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        """Run ``coro`` in the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
            pending = asyncio.all_tasks(self._loop)
            if pending:  # connections of cancelled streams still closing: give them a moment, then end them
                self._loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
                for task in pending:
                    task.cancel()
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        try:
            app = EddaApp(
                self.db_url, workflows=WORKFLOWS, poll_interval=0.05, queues=QUEUES, rate_limits=RATE_LIMITS
            )
            await app.initialize()
            self.app = app
            self._consoles = [
                console_app(app, read_only=True, poll_interval=0.1),
                console_app(app, auth=TOKEN, poll_interval=0.1),
                console_app(app, redact=self._redact, poll_interval=0.1, page_size=5),
            ]
            paths = ["/ro", "/auth", "/"]
            root = Starlette(routes=[Mount(p, c) for p, c in zip(paths, self._consoles, strict=True)])
            config = uvicorn.Config(
                root, log_level="warning", lifespan="off", timeout_graceful_shutdown=1, ws="none"
            )
            self._server = uvicorn.Server(config)
        except BaseException as exc:
            self._started.set_exception(exc)
            raise
        self._loop.call_soon(self._started.set_result, None)
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            await app.shutdown()

    async def settle(
        self, instance_id: str, *statuses: InstanceStatus, timeout: float = 20
    ) -> InstanceStatus:
        """Wait until the instance is in one of ``statuses``."""
        assert self.app is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            record = await self.app.get_instance(instance_id)
            if record.status in statuses:
                return record.status
            if loop.time() > deadline:
                raise AssertionError(f"{instance_id} is {record.status}, expected one of {statuses}")
            await asyncio.sleep(0.02)
