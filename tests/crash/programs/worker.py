"""Worker program for crash and scale tests: ``python -m tests.crash.programs.worker --db URL --log PATH``.

Runs an :class:`EddaApp` serving :data:`tests.crash.programs.workflows.CATALOG` until SIGTERM (then
shuts down gracefully and exits 0) or SIGKILL (the point of the crash tests). It prints
``ready <pid> <worker id>`` on stdout once initialized. Engine logs (WARNING and up) go to stderr.

Options:
    --hold LABEL          steps/compensations that never finish here (repeatable)
    --pause-after LABEL   stall the workflow after this step's entry was committed (repeatable)
    --host NAME           pretend to run on another host (dead-owner detection then cannot apply,
                          so recovery must wait for the lease to expire)
    --ttl / --poll / --max-runs   lease TTL, fallback poll interval, concurrent runs
    --liveness-ttl S      seconds after its last heartbeat that this worker counts as dead (default 5, the
                          app's default; 0 turns the heartbeat off)
    --no-fsync            skip fsync of side-effect lines (scale test: no crash, speed matters)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys

from durable_core import EddaApp
from tests.crash.programs.workflows import CATALOG, SETTINGS, PauseHooks


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--hold", action="append", default=[])
    parser.add_argument("--pause-after", action="append", default=[])
    parser.add_argument("--host", default=None)
    parser.add_argument("--ttl", type=float, default=1.5)
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--max-runs", type=int, default=50)
    parser.add_argument("--liveness-ttl", type=float, default=None)
    parser.add_argument("--no-fsync", action="store_true")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    """Serve until SIGTERM."""
    SETTINGS.log_path = args.log
    SETTINGS.fsync = not args.no_fsync
    SETTINGS.hold = frozenset(args.hold)
    SETTINGS.pause_after = frozenset(args.pause_after)
    if args.host:
        fake_host = args.host
        socket.gethostname = lambda: fake_host  # WorkerId.new() reads the host name from here
    liveness_ttl: float | None = 5.0 if args.liveness_ttl is None else (args.liveness_ttl or None)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    app = EddaApp(
        args.db,
        "crash-worker",
        workflows=list(CATALOG),
        hooks=PauseHooks(),
        lease_ttl=args.ttl,
        poll_interval=args.poll,
        max_concurrent_runs=args.max_runs,
        shutdown_timeout=2.0,
        liveness_ttl=liveness_ttl,
    )
    await app.initialize()
    try:
        print("ready", app.worker_id, flush=True)
        await stop.wait()
    finally:
        await app.shutdown()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main(parse(sys.argv[1:])))
