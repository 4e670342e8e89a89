"""A CloudEvents HTTP receiver on 127.0.0.1 for outbox tests: records requests, answers what it is told.

It speaks minimal HTTP/1.1 over ``asyncio.start_server`` (keep-alive, ``Content-Length`` bodies). A
request is *processed* when the receiver answered it with a 2xx; :attr:`Receiver.processed` counts
processed requests per CloudEvent id, which is how a receiver de-duplicates at-least-once delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Request:
    """One received request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: datetime  # wall-clock arrival time (UTC)

    @property
    def event_id(self) -> str:
        """The CloudEvent id (binary: ``ce-id``; structured: the document's ``id``)."""
        if "ce-id" in self.headers:
            return self.headers["ce-id"]
        return str(json.loads(self.body)["id"])


@dataclass
class Receiver:
    """Answers ``statuses`` in turn (then 200); while ``hold`` is set to an unset event, answers nothing.

    A held request whose sender disconnects (e.g. was SIGKILLed) lands in :attr:`abandoned`, unanswered.
    """

    statuses: list[tuple[int, str]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    processed: Counter[str] = field(default_factory=Counter)
    url: str = ""
    received: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None
    abandoned: list[Request] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection."""
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, path, headers, body, datetime.now(UTC))
                self.requests.append(request)
                self.received.set()
                if self.hold is not None and not await self._held(reader):
                    self.abandoned.append(request)  # the sender went away while held: never answered
                    return
                code, text = self.statuses.pop(0) if self.statuses else (200, "ok")
                payload = text.encode()
                writer.write(
                    f"HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                if 200 <= code < 300:
                    self.processed[request.event_id] += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _held(self, reader: asyncio.StreamReader) -> bool:
        """Wait for ``hold``; False when the sender's connection closes first (e.g. it was killed)."""
        assert self.hold is not None
        released = asyncio.ensure_future(self.hold.wait())
        closed = asyncio.ensure_future(reader.read(1))  # b"" at EOF; senders send nothing while waiting
        try:
            await asyncio.wait({released, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (released, closed):
                task.cancel()
            await asyncio.gather(released, closed, return_exceptions=True)
        return not (closed.done() and not closed.cancelled() and closed.exception() is None)

    def ids(self) -> list[str]:
        """CloudEvent ids of every request, in arrival order."""
        return [request.event_id for request in self.requests]


@asynccontextmanager
async def serve_receiver() -> AsyncIterator[Receiver]:
    """Run a :class:`Receiver` on 127.0.0.1 (a free port); its URL is ``http://127.0.0.1:<port>/events``."""
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/events"
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()  # let held handlers finish so the server closes cleanly
        server.close()
        await server.wait_closed()
