"""Debounce (only the last of a burst of starts runs) and singleton (one active instance per key)."""

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

from durable_core import EddaApp, WorkflowContext, wait_event, workflow

reindexed: list[str] = []


@workflow
async def reindex(ctx: WorkflowContext, doc: str, text: str) -> str:
    reindexed.append(text)
    return text


@workflow
async def sync_account(ctx: WorkflowContext, account: str) -> str:
    await wait_event(ctx, "sync-done", timeout_seconds=60)
    return f"synced {account}"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EddaApp(f"sqlite:///{Path(tmp) / 'keys.db'}") as app:
            # Five edits in a row: one reindex, 300 ms after the last edit, with the last text.
            edits = reindex.with_options(debounce_key="doc-7", debounce=timedelta(milliseconds=300))
            ids = [await edits.start(doc="doc-7", text=f"draft {n}") for n in range(1, 6)]
            print("debounced starts share one instance:", len(set(ids)) == 1)
            print("reindexed:", await app.wait_result(ids[0], timeout=30), "- runs:", len(reindexed))

            # A second sync of the same account while one is active returns the active one.
            sync = sync_account.with_options(singleton_key="acct-42")
            first = await sync.start(account="acct-42")
            print("second start returns the active instance:", await sync.start(account="acct-42") == first)
            await app.send_event("sync-done", "example", {}, instance_id=first)
            print(await app.wait_result(first, timeout=30))

            # on_conflict="queue": later starts get their own instances and run one after the other.
            line = sync_account.with_options(singleton_key="acct-7", on_conflict="queue")
            holder, queued = await line.start(account="acct-7"), await line.start(account="acct-7")
            print("queued start:", (await app.handle(queued).status()).value)
            for iid in (holder, queued):  # the queued one finds its event in its mailbox when it runs
                await app.send_event("sync-done", "example", {}, instance_id=iid)
            print("then:", await app.handle(queued).result(timeout=30))  # after the holder's end


if __name__ == "__main__":
    asyncio.run(main())
