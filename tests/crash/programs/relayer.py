"""Outbox relayer program for crash tests: ``python -m tests.crash.programs.relayer --db URL --target URL``.

Runs one :class:`OutboxRelayer` on the database's outbox (wall-clock time) until SIGTERM (graceful stop,
exit 0) or SIGKILL (the point of the crash tests). Prints ``ready <relayer id>`` once it runs. Logs
(WARNING and up) go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from durable_core import OutboxRelayer, SystemClock
from durable_core.storage.sql import SqlStorage


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--id", required=True, help="relayer id (prefix of its claim tokens)")
    parser.add_argument("--mode", default="binary")
    parser.add_argument("--visibility", type=float, default=4.0)
    parser.add_argument("--request-timeout", type=float, default=3.5)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--poll", type=float, default=0.05)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    """Relay until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    storage = SqlStorage(args.db)
    await storage.initialize(auto_migrate=False)
    relayer = OutboxRelayer(
        storage,
        SystemClock(),
        args.target,
        mode=args.mode,
        poll_interval=args.poll,
        batch_size=args.batch,
        visibility_timeout=args.visibility,
        request_timeout=args.request_timeout,
        relayer_id=args.id,
    )
    relayer.start()
    try:
        print("ready", relayer.relayer_id, flush=True)
        await stop.wait()
    finally:
        await relayer.stop()
        await storage.close()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main(parse(sys.argv[1:])))
