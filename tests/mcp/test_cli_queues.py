"""``edda-mcp queues list``: the queues of a database with their depth, running runs and backlog."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from pathlib import Path

from durable_core import Catalog, EddaApp, Queue, RateLimit, WorkflowContext, wait_event, workflow
from edda_mcp.cli import main

CATALOG = Catalog()


@workflow(catalog=CATALOG, queue="llm")
async def cli_queued(ctx: WorkflowContext) -> None:
    await wait_event(ctx, "go", timeout_seconds=600)


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


async def _fill(db_url: str) -> None:
    queues = [
        Queue("llm", concurrency=4, per_key_concurrency=2, rate_limit=RateLimit(60, per=timedelta(minutes=1)))
    ]
    async with EddaApp(db_url, workflows=list(CATALOG), queues=queues, run_workers=False) as app:
        for tenant in ("t1", "t1", "t2"):
            await cli_queued.with_options(app=app, queue_key=tenant).start()


def test_queues_list_table_and_json(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'queues.db'}"
    assert run_cli("queues", "list", "--db", db_url)[0] == 1  # read-only: a missing database is an error
    assert run_cli("migrate", "--db", db_url)[0] == 0
    assert run_cli("queues", "list", "--db", db_url) == (0, "no queues\n")
    asyncio.run(_fill(db_url))
    code, text = run_cli("queues", "list", "--db", db_url, "--keys")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["QUEUE", "CONCURRENCY", "PER", "KEY", "RATE", "DEPTH", "QUEUED", "RUNNING"]
    assert lines[1].split() == ["llm", "4", "2", "60/60s", "3", "3", "0"]
    assert lines[2].split() == ["key", "t1", "depth", "2", "queued", "2", "running", "0"]
    code, text = run_cli("queues", "list", "--db", db_url, "--json")
    (llm,) = json.loads(text)
    assert llm["rate_limit"] == {"count": 60, "per_seconds": 60.0, "burst": 1}
    assert [(k["key"], k["depth"]) for k in llm["keys"]] == [("t1", 2), ("t2", 1)]
