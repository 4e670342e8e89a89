"""Waiting for the first of several things, or for all of them: ``wait_first`` and ``wait_all``.

A checkout waits for whichever comes first: the payment event, a cancel message, or 15 minutes on a
durable timer. All three alternatives are registered at once (``app.get_wait()`` shows them), so none
can slip by while another is awaited. A visa application waits for two documents and a background-check
child workflow, in any order, with one overall timeout.
"""

import asyncio
import tempfile
from pathlib import Path

from durable_core import (
    EddaApp,
    FakeClock,
    WaitInfo,
    WorkflowContext,
    on_child,
    on_event,
    on_message,
    on_timer,
    start_child,
    wait_all,
    wait_first,
    workflow,
)


@workflow
async def checkout(ctx: WorkflowContext, cart: str) -> str:
    first = await wait_first(
        ctx,
        on_event("payment.completed"),
        on_message("cancellations"),
        on_timer(15 * 60),
    )
    if first.index == 0:
        return f"{cart}: paid {first.value.data['amount']}"
    if first.index == 1:
        return f"{cart}: cancelled ({first.value.data})"
    return f"{cart}: abandoned after 15 minutes"


@workflow
async def background_check(ctx: WorkflowContext, applicant: str) -> str:
    return f"{applicant}: no records"


@workflow
async def visa_application(ctx: WorkflowContext, applicant: str) -> list[str]:
    check = await start_child(ctx, background_check, applicant)
    passport, photo, record = await wait_all(
        ctx,
        on_event("passport.uploaded"),
        on_event("photo.uploaded"),
        on_child(check),
        timeout_seconds=30 * 24 * 3600,
    )
    return [passport.data["file"], photo.data["file"], record]


async def parked(app: EddaApp, instance_id: str) -> WaitInfo:
    """Poll (bounded) until the instance waits for at least one event."""
    for _ in range(1000):
        info = await app.get_wait(instance_id)
        if info is not None and info.event_types:
            return info
        await asyncio.sleep(0.01)
    raise TimeoutError("the instance never parked")


async def main() -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'concurrency.db'}", clock=clock) as app:
            carts = {name: await checkout.start(cart=name) for name in ("cart-1", "cart-2", "cart-3")}
            for iid in carts.values():
                info = await parked(app, iid)
            print(f"each cart waits for {info.event_types}, {info.channels} or {info.wake_at:%H:%M}")

            await app.send_event("payment.completed", "psp", {"amount": 42}, instance_id=carts["cart-1"])
            await app.send_to(carts["cart-2"], "cancellations", "customer changed their mind")
            clock.advance(15 * 60)
            for iid in carts.values():
                print(await app.handle(iid).result(timeout=10))

            visa = await visa_application.start(applicant="ada")
            await parked(app, visa)
            await app.send_event("photo.uploaded", "portal", {"file": "photo.jpg"}, instance_id=visa)
            await app.send_event("passport.uploaded", "portal", {"file": "passport.pdf"}, instance_id=visa)
            print("visa:", await app.handle(visa).result(timeout=10))


if __name__ == "__main__":
    asyncio.run(main())
