"""A worker serving one deploy of the order workflow until SIGTERM (or SIGKILL, the point of the test).

``python -m tests.evolution.programs.evolution_worker --db URL --deploy v2``; prints ``ready <worker id>``
once dispatching. Activity calls go to the file named by ``EDDA_EVOLUTION_CALLS``; with
``EDDA_EVOLUTION_HOLD=finish`` the last step never completes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from durable_core import EddaApp
from tests.evolution.versions import VERSIONS


async def main(db_url: str, deploy: str) -> None:
    """Serve until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    app = EddaApp(
        db_url,
        "evolution-worker",
        workflows=list(VERSIONS[deploy]),
        version=deploy,
        lease_ttl=1.5,
        poll_interval=0.1,
        shutdown_timeout=2.0,
    )
    async with app:
        print("ready", app.worker_id, flush=True)
        await stop.wait()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--deploy", choices=sorted(VERSIONS), required=True)
    args = parser.parse_args()
    asyncio.run(main(args.db, args.deploy))
