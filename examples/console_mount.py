"""The operations console mounted in your own Starlette app, next to the engine it shows.

One workflow waits for a typed approval; the console lists it under "Waiting for human input", and its
page offers a form generated from the ``Approval`` model. Card numbers are redacted on every page.
The example fetches the pages in-process instead of starting a server; ``uvicorn example:web`` serves
the same app on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.routing import Mount

from durable_core import EddaApp, WorkflowContext, wait_event, workflow
from edda_mcp.console import console_app


class Approval(BaseModel):
    approver: str
    approved: bool


@workflow
async def refund(ctx: WorkflowContext, order_id: str, card_number: str) -> str:
    decision = await wait_event(ctx, "refund.approval", model=Approval)
    return f"{order_id}: {'refunded' if decision.data.approved else 'refused'} by {decision.data.approver}"


def hide_card(value: Any) -> Any:
    """What the console shows of a refund's stored values: everything but the card number."""
    if isinstance(value, dict) and "card_number" in value:
        return {**value, "card_number": "**** redacted ****"}
    return value


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'shop.db'}", workflows=[refund]) as app:
            web = Starlette(routes=[Mount("/ops", console_app(app, redact={"refund": hide_card}))])
            iid = await app.start(refund, {"order_id": "ORD-7", "card_number": "4111111111111111"})
            while (await app.get_instance(iid)).status.value != "waiting":  # noqa: ASYNC110 - a demo
                await asyncio.sleep(0.01)
            transport = httpx.ASGITransport(app=web)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                overview = (await client.get("/ops/")).text
                page = (await client.get(f"/ops/instances/{iid}")).text
            print("waiting for input:", iid in overview)
            print("answer form field:", 'name="field.approver"' in page)
            print("card number shown:", "4111111111111111" in page)


if __name__ == "__main__":
    asyncio.run(main())
