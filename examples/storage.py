"""Storage: database URLs, migrations, a payload codec and purging old instances.

Runs on embedded SQLite by default. Point ``EDDA_DB_URL`` at PostgreSQL or MySQL to run the same program
there, e.g. ``EDDA_DB_URL=postgresql://user:pass@localhost/app python examples/storage.py``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import zlib
from datetime import timedelta
from pathlib import Path

from durable_core import (
    EddaApp,
    InstanceStatus,
    InvalidDatabaseURLError,
    PayloadCodec,
    WorkflowContext,
    activity,
    workflow,
)


class ZlibCodec:
    """Compresses stored inputs and results. An encrypting codec has the same two methods."""

    def encode(self, data: bytes) -> bytes:
        return zlib.compress(data)

    def decode(self, data: bytes) -> bytes:
        return zlib.decompress(data)


@activity
async def render(ctx: WorkflowContext, template: str, times: int) -> str:
    return template * times


@workflow
async def build_report(ctx: WorkflowContext, template: str, times: int) -> int:
    return len(await render(ctx, template, times))


async def main() -> None:
    try:
        EddaApp("redis://localhost/0")
    except InvalidDatabaseURLError as exc:
        print(str(exc).splitlines()[0])

    with tempfile.TemporaryDirectory() as tmp:
        db_url = os.environ.get("EDDA_DB_URL", f"sqlite:///{Path(tmp) / 'reports.db'}")
        codec: PayloadCodec = ZlibCodec()
        # Migrations run at start-up under a database lock, so many workers may start at once.
        # With auto_migrate=False the app refuses to start unless the schema is current.
        app = EddaApp(db_url, service_name="reports", payload_codec=codec, lease_ttl=30.0)
        ddl = app.storage.migration_sql()  # the schema as SQL, for teams that manage it themselves
        print(f"schema DDL for {app.storage.dialect_name}: {len(ddl.splitlines())} lines, starting with:")
        print("  " + ddl.splitlines()[0])
        async with app:
            size = await build_report.start_and_wait(template="lorem ipsum ", times=1000)
            print(f"report size {size} characters (stored compressed)")
            finished = await app.list_instances(status=InstanceStatus.COMPLETED, workflow_name="build_report")
            print(f"finished instances before purge: {len(finished)}")
            # Retention: delete finished instances (and their history) older than a cut-off.
            purged = await app.purge(older_than=timedelta(seconds=0))
            print(f"purged {purged} finished instance(s)")
            assert size == 12_000 and purged == len(finished) >= 1
            assert await app.list_instances(status=InstanceStatus.COMPLETED) == []


if __name__ == "__main__":
    asyncio.run(main())
