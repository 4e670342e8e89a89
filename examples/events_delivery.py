"""Event delivery: addressed events wait in the mailbox; events by type reach only current waiters.

Two inboxes sleep for a minute before they start waiting for ``note`` events. While they sleep:

* two events addressed to alice (``instance_id=...``) are kept in her mailbox;
* an event by type (no ``instance_id``) reaches nobody, because nobody is waiting for it yet.

Once both wait, one event by type reaches each of them (each gets its own copy).
"""

import asyncio
import tempfile
from pathlib import Path

from durable_core import EddaApp, FakeClock, WorkflowContext, sleep, wait_event, workflow


@workflow
async def inbox(ctx: WorkflowContext, owner: str, count: int) -> list[str]:
    await sleep(ctx, 60)  # not waiting for events yet
    notes = []
    for _ in range(count):
        event = await wait_event(ctx, "note")
        notes.append(event.data["text"])
    return notes


async def waits_for_notes(app: EddaApp, instance_id: str) -> None:
    """Poll (bounded) until the instance is parked in a ``wait_event(ctx, "note")``."""
    for _ in range(1000):
        info = await app.get_wait(instance_id)
        if info is not None and info.event_types == ("note",):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the instance never waited for a note")


async def main() -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'delivery.db'}", clock=clock) as app:
            alice = await inbox.start(owner="alice", count=3)
            bob = await inbox.start(owner="bob", count=1)

            # Both are still sleeping.
            await app.send_event("note", "hr", {"text": "welcome, alice"}, instance_id=alice)
            await app.send_event("note", "hr", {"text": "your badge is ready"}, instance_id=alice)
            await app.send_event("note", "ops", {"text": "early announcement"})  # nobody waits: not kept

            clock.advance(60)
            await waits_for_notes(app, alice)  # took her two mailbox events, oldest first, then waited
            await waits_for_notes(app, bob)
            await app.send_event("note", "ops", {"text": "lunch is served"})  # both wait: each gets it

            print("alice:", await app.handle(alice).result(timeout=10))
            print("bob:", await app.handle(bob).result(timeout=10))


if __name__ == "__main__":
    asyncio.run(main())
