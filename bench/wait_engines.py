"""The same waiting workflows on both engines, behind one small adapter, for the wait benchmarks.

``wake_latency.py``, ``timer_lateness.py``, ``recovery.py`` and their worker program ``wait_worker.py`` run
in either venv: with ``--engine durable_core`` in the project's ``.venv``, with ``--engine edda`` in
``bench/.peer-venv`` (edda-framework 0.16.2). This module imports neither engine at the top; the adapter
for the chosen engine imports it and its two workflows (``wait_flows_core.py`` / ``wait_flows_edda.py``)
when it is made, so the measuring code is literally the same for both engines.

The two workflows, identical in shape on both engines:

* ``bench_wake(i)``: ``await wait_event(ctx, "bench.wake")`` and return ``event.data["i"]``;
* ``bench_timer(i, due_ts)``: ``await sleep_until(ctx, <due_ts as an aware UTC datetime>)`` and return ``i``.

Completion is observed with each engine's ``on_workflow_complete`` hook, which both engines call right
after the completed status was written; the adapter stamps ``time.monotonic()`` (the system-wide
``CLOCK_MONOTONIC``, comparable across processes) and ``time.time()`` there.

How edda-framework 0.16.2 is driven (read from its source, ``edda/channels.py``, ``edda/app.py``,
``edda/storage/sqlalchemy_storage.py``):

* ``wait_event`` subscribes the instance to the channel named after the event type (broadcast) and
  raises ``WaitForChannelMessageException``: ``wf.start()`` runs inline up to that point and returns with
  the instance stored as ``waiting_for_message``.
* An event from outside goes through ``app.handle_cloudevent(event, wait=True)`` - the code path of its
  CloudEvents HTTP endpoint, without the HTTP - with the ``eddainstanceid`` extension (point-to-point
  delivery). That takes the instance lock, records the message in the history, sets the status to
  ``running`` and releases the lock; on PostgreSQL it also sends ``NOTIFY workflow_resumable``. The
  workflow itself is resumed by the app's background loop ``_resume_running_workflows_periodically``:
  every 1 s when idle polling finds work, backing off to 2, 4, ... 60 s while it finds none (SQLite), or
  woken by the NOTIFY with a 30 s fallback (``notify_fallback_interval``, PostgreSQL); each pass resumes
  at most 10 instances (``max_workflows_per_batch``).
* A sender in another process (``EddaEngine.open(workers=False)``) has no app loop of its own: it opens edda's storage with
  a NOTIFY listener attached, exactly as ``EddaApp.initialize()`` does, and calls
  ``edda.channels.publish(storage, type, data, metadata, target_instance_id=...)``, which is what
  ``handle_cloudevent`` does inside.
* ``sleep_until`` stores a timer subscription; the elected leader checks for expired timers every 10 s
  (``_check_expired_timers_periodically(interval=10)``) and resumes them inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench_common import ensure_loopback

ENGINES = ("durable_core", "edda")
ENGINE_LABELS = {"durable_core": "durable_core", "edda": "edda-framework"}
WAKE_EVENT = "bench.wake"
WAKE_WORKFLOW = "bench_wake"
TIMER_WORKFLOW = "bench_timer"


@dataclass
class Completions:
    """When each instance completed (``time.monotonic()`` and ``time.time()``), as seen by the hook."""

    mono: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    on_record: Callable[[str, float, float], None] | None = None
    _waiters: dict[str, list[asyncio.Future[float]]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(
        self, instance_id: str, result: Any, now: float | None = None, wall: float | None = None
    ) -> None:
        """Stamp the completion of ``instance_id`` (from the engine's hook, or as reported by a worker)."""
        now = time.monotonic() if now is None else now
        wall = time.time() if wall is None else wall
        self.mono.setdefault(instance_id, now)
        self.wall.setdefault(instance_id, wall)
        self.results[instance_id] = result
        if self.on_record is not None:
            self.on_record(instance_id, now, wall)
        for fut in self._waiters.pop(instance_id, []):
            if not fut.done():
                fut.set_result(now)
        self._changed.set()

    async def wait(self, instance_id: str, timeout: float) -> float | None:
        """The monotonic completion time of ``instance_id``, or None if it did not complete in time."""
        if instance_id in self.mono:
            return self.mono[instance_id]
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(instance_id, []).append(fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None

    async def wait_all(self, ids: Sequence[str], deadline: float) -> int:
        """Wait until every id completed or ``time.monotonic()`` passes ``deadline``; return how many did."""
        while True:
            done = sum(1 for i in ids if i in self.mono)
            remaining = deadline - time.monotonic()
            if done == len(ids) or remaining <= 0:
                return done
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


class Engine:
    """What the wait benchmarks need from an engine (both adapters implement all of it)."""

    label = ""
    completions: Completions

    async def open(self, db_url: str, *, workers: bool = True) -> None:
        """Connect (and, with ``workers``, start running instances in this process)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Shut down gracefully."""
        raise NotImplementedError

    async def start_waiter(self, i: int) -> str:
        """Start one ``bench_wake(i)`` instance; return its id."""
        raise NotImplementedError

    async def start_timer(self, i: int, due_ts: float) -> str:
        """Start one ``bench_timer(i, due_ts)`` instance; return its id."""
        raise NotImplementedError

    async def is_waiting(self, instance_id: str) -> bool:
        """Whether the instance is stored as waiting (for an event or a timer) and free to be resumed."""
        raise NotImplementedError

    async def count_ready(self, workflow_name: str) -> int:
        """How many instances of ``workflow_name`` are waiting and free to be resumed (one query)."""
        raise NotImplementedError

    async def send(self, instance_id: str, i: int) -> None:
        """Send a ``bench.wake`` event with data ``{"i": i}`` addressed to ``instance_id``."""
        raise NotImplementedError

    async def wait_parked(self, ids: Sequence[str], timeout: float, poll: float = 0.002) -> None:
        """Wait until every instance is waiting or already completed (RuntimeError after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        pending = list(ids)
        while pending:
            pending = [i for i in pending if i not in self.completions.mono and not await self.is_waiting(i)]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} of {len(ids)} instances not waiting after {timeout} s")
            await asyncio.sleep(poll)

    def engine_settings(self) -> str:
        """One line describing the settings used (for the report)."""
        return ""


def make_engine(name: str, *, sqlite_pragmas: str = "same") -> Engine:
    """The adapter for ``name`` (``durable_core`` or ``edda``); imports that engine."""
    if name == "durable_core":
        return CoreEngine()
    if name == "edda":
        return EddaEngine(sqlite_pragmas=sqlite_pragmas)
    raise ValueError(f"unknown engine {name!r}; expected one of {ENGINES}")


def run_engine_main(engine: str, coro: Any) -> Any:
    """Run ``coro`` on the event loop each engine is benchmarked on (edda: uvloop, as in peer_edda.py)."""
    if engine == "edda":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


# --------------------------------------------------------------------------- durable_core


class CoreEngine(Engine):
    """This project's engine (``durable_core``), with its defaults (``poll_interval=1.0``)."""

    label = "durable_core"

    def __init__(self) -> None:
        import durable_core as dc

        self._dc = dc
        self.completions = Completions()
        self._app: Any = None

        import wait_flows_core as flows

        self._wake = flows.bench_wake
        self._timer = flows.bench_timer

    async def open(self, db_url: str, *, workers: bool = True) -> None:
        if db_url.startswith("postgres"):
            ensure_loopback(db_url)
        completions = self.completions

        class Hooks:
            async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
                completions.record(instance_id, result)

        self._app = self._dc.EddaApp(
            db_url=db_url,
            service_name="bench-waits",
            workflows=[self._wake, self._timer],
            hooks=Hooks(),
            run_workers=workers,
        )
        await self._app.initialize()

    async def close(self) -> None:
        if self._app is not None:
            await self._app.shutdown()

    async def start_waiter(self, i: int) -> str:
        return str(await self._wake.start(i=i))

    async def start_timer(self, i: int, due_ts: float) -> str:
        return str(await self._timer.start(i=i, due_ts=due_ts))

    async def is_waiting(self, instance_id: str) -> bool:
        return await self._app.get_wait(instance_id) is not None

    async def count_ready(self, workflow_name: str) -> int:
        records = await self._app.list_instances(
            status=self._dc.InstanceStatus.WAITING, workflow_name=workflow_name, limit=1000
        )
        now = datetime.now(UTC)
        return sum(
            1 for r in records if r.lease_owner is None or (r.lease_expires_at and r.lease_expires_at <= now)
        )

    async def send(self, instance_id: str, i: int) -> None:
        await self._app.send_event(WAKE_EVENT, "bench", {"i": i}, instance_id=instance_id)

    def engine_settings(self) -> str:
        return "defaults (poll_interval=1.0 s, lease_ttl=30 s)"


# --------------------------------------------------------------------------- edda-framework 0.16.2


class EddaEngine(Engine):
    """The peer, edda-framework 0.16.2, with its defaults (see the module docstring)."""

    label = "edda-framework"

    def __init__(self, sqlite_pragmas: str = "same") -> None:
        import edda

        self._edda = edda
        self._sqlite_pragmas = sqlite_pragmas
        self.completions = Completions()
        self._app: Any = None
        self._is_sqlite = False

        import wait_flows_edda as flows

        self._wake = flows.bench_wake
        self._timer = flows.bench_timer

    @staticmethod
    def edda_url(url: str) -> str:
        """The SQLAlchemy URL edda expects."""
        if url.startswith(("postgresql://", "postgres://")):
            ensure_loopback(url)
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url

    async def open(self, db_url: str, *, workers: bool = True) -> None:
        url = self.edda_url(db_url)
        self._is_sqlite = url.startswith("sqlite")
        completions = self.completions

        class Hooks(self._edda.HooksBase):  # type: ignore[misc,name-defined]
            async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
                completions.record(instance_id, result)

        self._app = self._edda.EddaApp(service_name="bench-waits", db_url=url, hooks=Hooks())
        if self._is_sqlite and self._sqlite_pragmas == "same":
            from peer_edda import apply_sqlite_pragmas

            apply_sqlite_pragmas(self._app)
        if workers:
            await self._app.initialize()
        else:
            # A sender only: edda's storage plus its NOTIFY listener, as EddaApp.initialize() sets them
            # up, but no background loops (so this process never resumes a workflow itself).
            await self._app.storage.initialize()
            if not self._is_sqlite:
                from edda.storage.pg_notify import PostgresNotifyListener

                self._listener = PostgresNotifyListener(dsn=url.replace("+asyncpg", ""))
                await self._listener.start()
                self._app.storage.set_notify_listener(self._listener)
        self._workers = workers

    async def close(self) -> None:
        if self._app is None:
            return
        if self._workers:
            await self._app.shutdown()
        else:
            listener = getattr(self, "_listener", None)
            if listener is not None:
                await listener.stop()
            await self._app.storage.close()

    async def start_waiter(self, i: int) -> str:
        return str(await self._wake.start(i=i))

    async def start_timer(self, i: int, due_ts: float) -> str:
        return str(await self._timer.start(i=i, due_ts=due_ts))

    async def is_waiting(self, instance_id: str) -> bool:
        inst = await self._app.storage.get_instance(instance_id)
        return bool(
            inst
            and inst.get("status") in ("waiting_for_message", "waiting_for_timer")
            and not inst.get("locked_by")
        )

    async def count_ready(self, workflow_name: str) -> int:
        from sqlalchemy import text

        async with self._app.storage.engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT count(*) FROM workflow_instances WHERE workflow_name = :name "
                    "AND status IN ('waiting_for_message', 'waiting_for_timer') AND locked_by IS NULL"
                ),
                {"name": workflow_name},
            )
            return int(result.scalar_one())

    async def send(self, instance_id: str, i: int) -> None:
        if self._workers:
            from cloudevents.http import CloudEvent

            event = CloudEvent(
                {
                    "type": WAKE_EVENT,
                    "source": "bench",
                    "id": str(uuid.uuid4()),
                    "eddainstanceid": instance_id,
                },
                {"i": i},
            )
            await self._app.handle_cloudevent(event, wait=True)
            return
        metadata = {
            "ce_type": WAKE_EVENT,
            "ce_source": "bench",
            "ce_id": str(uuid.uuid4()),
            "ce_time": None,
            "ce_datacontenttype": "application/json",
            "ce_subject": None,
            "ce_extensions": {"eddainstanceid": instance_id},
        }
        await self._edda.publish(
            self._app.storage,
            WAKE_EVENT,
            {"i": i},
            metadata,
            target_instance_id=instance_id,
            worker_id=f"bench-sender-{uuid.uuid4()}",
        )

    def engine_settings(self) -> str:
        if self._is_sqlite:
            pragmas = (
                "journal_mode=WAL, synchronous=FULL (set by the benchmark, as ours by default)"
                if self._sqlite_pragmas == "same"
                else "stock pragmas"
            )
            return f"defaults (resume loop 1 s with back-off to 60 s, timer check 10 s); {pragmas}"
        return "defaults (LISTEN/NOTIFY on, 30 s fallback poll, timer check 10 s)"
