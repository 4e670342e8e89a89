"""Subprocess helper: ``python -m tests.storage.init_worker URL`` initializes storage on URL.

It prints ``ready`` once imported, waits for a line on stdin (so many workers start at the same
moment), initializes (migrating under the lock), then prints the versions it applied.
"""

from __future__ import annotations

import asyncio
import sys

from durable_core.storage import make_storage


async def main(url: str) -> None:
    storage = make_storage(url)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    try:
        applied = await storage.migrate()
        await storage.initialize()
        print("applied", ",".join(map(str, applied)), flush=True)
    finally:
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
