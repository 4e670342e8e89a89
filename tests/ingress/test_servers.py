"""The ingress behind real servers: uvicorn in a subprocess on 127.0.0.1, and WSGI through a2wsgi."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest

from durable_core.ingress import CloudEventsASGI, create_wsgi_app
from tests.ingress.fakes import FakeLifespan, FakeSink
from tests.ingress.test_events import binary, structured

REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- uvicorn


class Server:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    log = tmp_path / "ingress.log"
    stderr_path = tmp_path / "uvicorn.stderr"
    with stderr_path.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.ingress.programs.serve",
            "--log",
            str(log),
            "--root-path",
            "/hooks",
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"port "), stderr_path.read_text()
        yield Server(proc, int(line.split()[1]), log)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_under_uvicorn(server: Server) -> None:
    """uvicorn --root-path /hooks (a proxy strips /hooks): /cancel/{id} is matched below the root path."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        headers, body = binary({"order": "A-1"}, eddainstanceid="order-1")
        response = await client.post("/orders", headers=headers, content=body)
        assert response.status_code == 202, response.text
        headers, body = structured("plain text", id="evt-2", datacontenttype="text/plain")
        assert (await client.post("/", headers=headers, content=body)).status_code == 202

        response = await client.post("/cancel/order-1", json={"reason": "duplicate"})
        assert response.json() == {"instance_id": "order-1", "outcome": "requested"}
        assert (await client.post("/cancel/order-2")).status_code == 404

        headers, body = binary({"order": "B-2"}, id="evt-3", eddainstanceid="order-2")
        assert (await client.post("/x", headers=headers, content=body)).status_code == 404
        response = await client.post("/x", headers={"content-type": "text/plain"}, content=b"hi")
        assert response.status_code == 400 and response.json()["retryable"] is False
        assert (await client.get("/x")).status_code == 405

        big = b"x" * 5000
        headers, _ = binary(None)
        response = await client.post("/x", headers=headers, content=big)
        assert response.status_code == 413

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * 1000

        response = await client.post("/x", headers=headers, content=chunked())
        assert response.status_code == 413 and "Content-Length" not in response.request.headers

    server.proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert await asyncio.wait_for(server.proc.wait(), 30) in (0, -signal.SIGTERM)
    assert server.entries() == [
        {"kind": "startup"},
        {
            "kind": "event",
            "type": "payment.completed",
            "id": "evt-1",
            "data": {"order": "A-1"},
            "instance_id": "order-1",
        },
        {
            "kind": "event",
            "type": "payment.completed",
            "id": "evt-2",
            "data": "plain text",
            "instance_id": None,
        },
        {"kind": "cancel", "instance_id": "order-1", "reason": "duplicate"},
        {"kind": "shutdown"},
    ]


# --------------------------------------------------------------------------- WSGI


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread, as the WSGI bridge needs; closed after the test."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_wsgi_through_a2wsgi(loop_thread: asyncio.AbstractEventLoop) -> None:
    sink, handler = FakeSink(), FakeLifespan()
    wsgi_app = create_wsgi_app(CloudEventsASGI(sink, lifespan=handler, max_body_bytes=2048), loop=loop_thread)
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi_app), base_url="http://wsgi.test") as client:
        headers, body = binary({"order": "A-1"}, eddainstanceid="order-1")
        response = client.post("/anything", headers=headers, content=body)
        assert response.status_code == 202 and response.json()["event_id"] == "evt-1"
        headers, body = structured(b"\x00\x01", id="evt-2")
        assert client.post("/", headers=headers, content=body).status_code == 202
        assert client.post("/cancel/order-1").json()["outcome"] == "requested"
        assert client.post("/cancel/nope").status_code == 404
        assert (
            client.post(
                "/", headers={"content-type": "application/cloudevents+json"}, content=b"{"
            ).status_code
            == 400
        )
        assert client.post("/", headers=headers, content=b"x" * 3000).status_code == 413
        assert client.get("/").status_code == 405
    assert handler.calls == ["initialize"]  # no lifespan under WSGI: started before the first request
    assert [(e.event_id, e.data) for e in sink.events] == [
        ("evt-1", {"order": "A-1"}),
        ("evt-2", b"\x00\x01"),
    ]
    assert sink.cancels == [("order-1", "", "http")]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_wsgi_under_a_real_wsgi_server(loop_thread: asyncio.AbstractEventLoop) -> None:
    """wsgiref on 127.0.0.1: a real socket and a real WSGI server in between."""
    sink = FakeSink()
    wsgi_app = create_wsgi_app(CloudEventsASGI(sink), loop=loop_thread)
    with make_server("127.0.0.1", 0, wsgi_app, handler_class=_QuietHandler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{httpd.server_port}", timeout=30) as client:
                # wsgiref reports a missing Content-Type as text/plain: name the data's type
                headers, body = binary([1, 2, 3], datacontenttype="application/json")
                assert client.post("/events", headers=headers, content=body).status_code == 202
                assert client.post("/cancel/order-1").status_code == 200
        finally:
            httpd.shutdown()
            thread.join(10)
    assert [e.data for e in sink.events] == [[1, 2, 3]] and len(sink.cancels) == 1
