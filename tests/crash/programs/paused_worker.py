"""The serving loop shared by the integration crash-test workers (LlamaIndex, pydantic-graph).

Each worker module defines its workflows, a side-effect log and a hook that stalls a run after a chosen
step was committed; :func:`serve_main` parses ``--db URL --log PATH [--pause-after STEP ...]``, serves the
catalog until SIGTERM and prints ``ready <worker id>`` once initialized (logs WARNING+ to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from durable_core import Catalog, EddaApp


async def _serve(db: str, service: str, catalog: Catalog, hooks: object) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    app = EddaApp(
        db,
        service,
        workflows=list(catalog),
        hooks=hooks,
        lease_ttl=5.0,  # generous: a loaded CI host must not expire a paused run's lease
        poll_interval=0.1,
        shutdown_timeout=2.0,
    )
    await app.initialize()
    try:
        print("ready", app.worker_id, flush=True)
        await stop.wait()
    finally:
        await app.shutdown()


def serve_main(
    service: str, catalog: Catalog, hooks: object, configure: Callable[[str, frozenset[str]], None]
) -> None:
    """Parse the command line, call ``configure(log_path, pause_after)``, and serve until SIGTERM."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--pause-after", action="append", default=[])
    args = parser.parse_args(sys.argv[1:])
    configure(args.log, frozenset(args.pause_after))
    asyncio.run(_serve(args.db, service, catalog, hooks))
