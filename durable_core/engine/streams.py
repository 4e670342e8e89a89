"""The engine side of durable output streams: buffered writers, sequence numbers, live wake-ups.

* :class:`StreamHub` (one per app) wakes the app's followers when chunks of an instance are stored or
  its run ends - in this process directly, from other processes through PostgreSQL NOTIFY.
* :class:`RunStreams` (one per run, i.e. per lease) assigns each stream's gap-free sequence numbers. Only
  the lease holder writes an instance's chunks, so a counter loaded once per run is enough.
* :class:`AttemptStreams` (one per activity attempt) holds that attempt's writers; the executor calls
  :meth:`AttemptStreams.finish` when the attempt ends, before the step's result is recorded.

Batching: a writer stores what it buffered :data:`FLUSH_WINDOW` seconds after the first unflushed chunk,
at once when :data:`FLUSH_BATCH` chunks are waiting, on ``flush()``/``close()``, and at the attempt's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from durable_core.authoring.streams import OutputStream
from durable_core.errors import ApiMisuseError
from durable_core.stream_types import MAX_STREAM_NAME_LENGTH, ChunkKind, StoredChunk
from durable_core.types import NO_PAYLOAD
from durable_core.validation import check_identifier

if TYPE_CHECKING:
    from datetime import datetime

    from durable_core.engine.services import EngineServices
    from durable_core.storage.base import Storage, WakeListener
    from durable_core.types import Lease, Payload

__all__ = ["FLUSH_BATCH", "FLUSH_WINDOW", "AttemptStreams", "RunStreams", "StreamHub"]

logger = logging.getLogger("durable_core.engine")

#: seconds a written chunk may wait in the buffer before it is stored
FLUSH_WINDOW: Final = 0.05
#: buffered chunks that trigger a store at once
FLUSH_BATCH: Final = 64


class StreamHub:
    """Per-app registry of live stream followers (no module state: two apps never share one)."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}
        self._listener: WakeListener | None = None
        self._listener_checked = False

    @property
    def pushed_across_processes(self) -> bool:
        """True when writes of other processes wake followers here (PostgreSQL LISTEN is running)."""
        return self._listener is not None

    def notify(self, instance_ids: list[str] | tuple[str, ...]) -> None:
        """Wake the followers of these instances (chunks were stored, or a run ended)."""
        for instance_id in instance_ids:
            for event in self._events.get(instance_id, ()):
                event.set()

    def _notify_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()

    @contextlib.contextmanager
    def listen(self, instance_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever chunks of ``instance_id`` may have been stored (while in the block)."""
        event = asyncio.Event()
        self._events.setdefault(instance_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._events.get(instance_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._events[instance_id]

    def ensure_listener(self, storage: Storage) -> None:
        """Start listening for other processes' writes once, where the database can push them."""
        if self._listener_checked:
            return
        self._listener_checked = True
        self._listener = storage.streams().listener(self.notify, self._notify_all)
        if self._listener is not None:
            self._listener.start()

    async def close(self) -> None:
        """Stop the cross-process listener (app shutdown); followers fall back to polling."""
        listener, self._listener = self._listener, None
        self._listener_checked = False
        if listener is not None:
            await listener.stop()
        self._notify_all()


class RunStreams:
    """Sequence numbers and storage of every stream written during one run of an instance."""

    def __init__(self, services: EngineServices, lease: Lease) -> None:
        self._s = services
        self._lease = lease
        self._next: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def store(self, name: str, items: list[tuple[int, int, ChunkKind, Payload, datetime]]) -> None:
        """Number and store ``(position, attempt, kind, payload, written_at)`` items in one batch."""
        iid = self._lease.instance_id
        store = self._s.storage.streams()
        async with self._lock:  # concurrent activities of one run share the sequence
            last = self._next.get(name)
            if last is None:
                last = await store.last_seq(iid, name)
            chunks = [
                StoredChunk(name, last + i, pos, attempt, self._lease.epoch, kind, payload, at)
                for i, (pos, attempt, kind, payload, at) in enumerate(items, start=1)
            ]
            try:
                await store.append(iid, chunks)
            except BaseException:
                self._next.pop(name, None)  # reload: the batch may or may not have been stored
                raise
            self._next[name] = last + len(chunks)
        self._s.streams.notify((iid,))


class AttemptStreams:
    """The writers one activity attempt opened (created on the event loop, by the executor)."""

    def __init__(self, run: RunStreams, services: EngineServices, position: int, attempt: int) -> None:
        self._run = run
        self._s = services
        self.position = position
        self.attempt = attempt
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self._writers: dict[str, _Writer] = {}
        self._lock = threading.Lock()  # ctx.stream() may be called from a sync activity's thread
        self.ended = False

    def stream(self, name: str) -> OutputStream:
        """The writer of ``name`` for this attempt (one per name)."""
        check_identifier("stream name", name, limit=MAX_STREAM_NAME_LENGTH)
        with self._lock:
            writer = self._writers.get(name)
            if writer is None:
                writer = self._writers[name] = _Writer(self, name)
            return writer

    async def store(self, name: str, items: list[tuple[int, int, ChunkKind, Payload, datetime]]) -> None:
        """Store a writer's batch through the run's numbering."""
        await self._run.store(name, items)

    def encode(self, chunk: Any) -> Payload:
        """The stored form of ``chunk`` (through the app's payload codec)."""
        return self._s.serializer.encode(chunk, "stream chunk")

    def now(self) -> datetime:
        """The engine clock."""
        return self._s.clock.now()

    async def finish(self) -> None:
        """The attempt ended: store everything its writers buffered; later writes are refused."""
        self.ended = True
        with self._lock:
            writers = list(self._writers.values())
        for writer in writers:
            await writer.flush()


class _Writer(OutputStream):
    """A buffered writer of one stream in one attempt."""

    def __init__(self, owner: AttemptStreams, name: str) -> None:
        self.name = name
        self._owner = owner
        self._buffer: list[tuple[int, int, ChunkKind, Payload, datetime]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._flush_lock = asyncio.Lock()
        self._closed = False

    def write(self, chunk: Any) -> None:
        """Buffer ``chunk`` (thread-safe)."""
        self._check_open()
        payload = self._owner.encode(chunk)  # refuse what cannot be stored now, in the writer's frame
        self._enqueue(ChunkKind.DATA, payload)

    def _check_open(self) -> None:
        if self._closed:
            raise ApiMisuseError(f"stream {self.name!r} was closed; open a new stream name to go on writing")
        if self._owner.ended:
            raise ApiMisuseError(
                f"stream {self.name!r} belongs to an activity attempt that has ended: write to streams only "
                "while the activity runs"
            )

    def _enqueue(self, kind: ChunkKind, payload: Payload) -> None:
        item = (self._owner.position, self._owner.attempt, kind, payload, self._owner.now())
        if threading.get_ident() == self._owner.loop_thread:
            self._append(item)
        else:
            self._owner.loop.call_soon_threadsafe(self._append, item)

    def _append(self, item: tuple[int, int, ChunkKind, Payload, datetime]) -> None:
        self._buffer.append(item)
        if len(self._buffer) >= FLUSH_BATCH:
            self._flush_soon()
        elif self._timer is None:
            self._timer = self._owner.loop.call_later(FLUSH_WINDOW, self._flush_soon)

    def _flush_soon(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = asyncio.ensure_future(self._background_flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _background_flush(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # kept in the buffer: the next flush (at the attempt's end at last) retries
            logger.warning("storing chunks of stream %s failed (will retry): %s", self.name, exc)

    async def flush(self) -> None:
        """Store the buffered chunks now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._flush_lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                await self._owner.store(self.name, batch)
            except BaseException:
                self._buffer[:0] = batch
                raise

    async def close(self) -> None:
        """Flush and store the CLOSE marker."""
        if self._closed:
            return
        self._check_open()
        self._closed = True
        owner = self._owner
        self._append((owner.position, owner.attempt, ChunkKind.CLOSE, NO_PAYLOAD, owner.now()))
        await self.flush()
