"""CloudEvents over HTTP: an order workflow waits for a payment event that arrives as an HTTP POST.

``CloudEventsASGI(app, lifespan=app)`` is an ASGI application: here uvicorn serves it on 127.0.0.1 and
starts/stops the ``EddaApp`` through the ASGI lifespan. Events are addressed to one workflow instance with
the CloudEvents extension attribute ``eddainstanceid`` (header ``ce-eddainstanceid`` in binary mode).
"""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from pathlib import Path

import httpx
import uvicorn

from durable_core import EddaApp, WorkflowContext, wait_event, workflow
from durable_core.ingress import CloudEventsASGI, RequestInfo


@workflow
async def order(ctx: WorkflowContext, order_id: str) -> str:
    payment = await wait_event(ctx, "payment.completed")
    return f"{order_id} paid {payment.data['amount']} (event {payment.metadata.id})"


async def authorize(request: RequestInfo) -> bool:
    """Every request must carry the shared token (False -> 401 without credentials, 403 with wrong ones)."""
    return request.header("authorization") == "Bearer s3cret"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = EddaApp(f"sqlite:///{Path(tmp) / 'events.db'}")
        ingress = CloudEventsASGI(app, lifespan=app, authorize=authorize)
        sock = socket.create_server(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(ingress, lifespan="on", log_level="warning"))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn has no "started" event; its lifespan startup initializes the app
            await asyncio.sleep(0.01)

        first = await order.start(order_id="ORD-1")
        second = await order.start(order_id="ORD-2")
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        auth = {"authorization": "Bearer s3cret"}
        async with httpx.AsyncClient(base_url=url, headers=auth) as http:
            # binary mode: attributes in ce-* headers, the data is the body
            binary = {
                "ce-specversion": "1.0",
                "ce-id": "pay-1",
                "ce-source": "payments",
                "ce-type": "payment.completed",
                "ce-eddainstanceid": first,
                "content-type": "application/json",
            }
            reply = await http.post("/payments", headers=binary, content=json.dumps({"amount": 42}))
            print("binary mode:", reply.status_code, reply.json())
            print("result:", await app.handle(first).result(timeout=30))

            # structured mode: one application/cloudevents+json document
            event = {
                "specversion": "1.0",
                "id": "pay-2",
                "source": "payments",
                "type": "payment.completed",
                "eddainstanceid": second,
                "data": {"amount": 7},
            }
            structured = {"content-type": "application/cloudevents+json"}
            reply = await http.post("/payments", headers=structured, content=json.dumps(event))
            print("structured mode:", reply.status_code, reply.json())
            print("result:", await app.handle(second).result(timeout=30))

            broken = await http.post("/payments", headers=structured, content=b'{"specversion": "1.0"')
            print("malformed:", broken.status_code, broken.json()["error_type"], broken.json()["retryable"])
            unknown = await http.post("/cancel/no-such-order")
            print("cancel unknown:", unknown.status_code, unknown.json()["error_type"])
            wrong = await http.post("/cancel/" + second, headers={"authorization": "Bearer guess"})
            print("wrong token:", wrong.status_code, wrong.json()["error_type"])
        async with httpx.AsyncClient(base_url=url) as anonymous:
            print("no token:", (await anonymous.post("/payments")).status_code)

        server.should_exit = True  # lifespan shutdown stops the app
        await serving


if __name__ == "__main__":
    asyncio.run(main())
