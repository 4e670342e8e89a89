"""CloudEvents over WSGI: the same ingress behind a WSGI server (here wsgiref; gunicorn/uWSGI alike).

A synchronous program keeps the engine on one event loop in a background thread. ``create_wsgi_app``
(a2wsgi's bridge) runs the ASGI ingress on that loop, and the program calls the app through ``run()``.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx

from durable_core import EddaApp, WorkflowContext, wait_event, workflow
from durable_core.ingress import CloudEventsASGI, create_wsgi_app


@workflow
async def shipment(ctx: WorkflowContext, parcel: str) -> str:
    scan = await wait_event(ctx, "parcel.scanned")
    return f"{parcel} scanned at {scan.data['depot']}"


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on stderr


def main() -> None:
    loop = asyncio.new_event_loop()  # the engine's loop, in a background thread
    engine_thread = threading.Thread(target=loop.run_forever, daemon=True)
    engine_thread.start()

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    with tempfile.TemporaryDirectory() as tmp:
        app = EddaApp(f"sqlite:///{Path(tmp) / 'wsgi.db'}")
        wsgi_application = create_wsgi_app(CloudEventsASGI(app, lifespan=app), loop=loop)
        run(app.initialize())  # without it, the first request would initialize the app
        parcel = run(shipment.start(parcel="PCL-9"))

        with make_server("127.0.0.1", 0, wsgi_application, handler_class=QuietHandler) as httpd:
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            event = {
                "specversion": "1.0",
                "id": "scan-1",
                "source": "depot-scanner",
                "type": "parcel.scanned",
                "eddainstanceid": parcel,
                "data": {"depot": "Leipzig"},
            }
            reply = httpx.post(
                f"http://127.0.0.1:{httpd.server_port}/scans",
                headers={"content-type": "application/cloudevents+json"},
                content=json.dumps(event),
            )
            print("WSGI answer:", reply.status_code, reply.json())
            print("result:", run(app.handle(parcel).result(timeout=20)))
            httpd.shutdown()
        run(app.shutdown())
    loop.call_soon_threadsafe(loop.stop)
    engine_thread.join()
    loop.close()


if __name__ == "__main__":
    main()
