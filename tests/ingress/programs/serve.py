"""Serve a ``CloudEventsASGI`` with uvicorn on 127.0.0.1 (a free port) for tests/ingress/test_servers.py.

The sink and lifespan handler append JSON lines to the file named by ``--log``; the bound port is printed
as ``port <n>`` before serving (the socket is already listening, so requests queue until uvicorn runs).
"""

from __future__ import annotations

import argparse
import json
import socket
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from durable_core import CancelOutcome, InstanceNotFoundError
from durable_core.ingress import CloudEventsASGI


class FileLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, **entry: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")


class FileSink:
    def __init__(self, log: FileLog) -> None:
        self.log = log

    async def send_event(
        self,
        event_type: str,
        source: str,
        data: Any,
        *,
        instance_id: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
        extensions: Mapping[str, str] | None = None,
        data_content_type: str | None = None,
        time: datetime | None = None,
    ) -> str:
        if instance_id not in (None, "order-1"):
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        shown = data.decode() if isinstance(data, bytes) else data
        self.log.write(kind="event", type=event_type, id=event_id, data=shown, instance_id=instance_id)
        return event_id or "?"

    async def cancel(self, instance_id: str, reason: str = "", cancelled_by: str = "api") -> CancelOutcome:
        if instance_id != "order-1":
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        self.log.write(kind="cancel", instance_id=instance_id, reason=reason)
        return CancelOutcome.REQUESTED


class FileLifespan:
    def __init__(self, log: FileLog) -> None:
        self.log = log

    async def initialize(self) -> None:
        self.log.write(kind="startup")

    async def shutdown(self) -> None:
        self.log.write(kind="shutdown")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--root-path", default="")
    args = parser.parse_args()
    log = FileLog(args.log)
    app = CloudEventsASGI(FileSink(log), max_body_bytes=2048, lifespan=FileLifespan(log))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print("port", sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, lifespan="on", log_level="warning", root_path=args.root_path)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
