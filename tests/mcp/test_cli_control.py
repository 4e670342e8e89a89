"""``edda-mcp instances retry|fork|pause|unpause|terminate|control-log`` on a database with instances."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from durable_core import Catalog, EddaApp, InstanceStatus, WorkflowContext, activity, wait_event, workflow
from edda_mcp.cli import main

CATALOG = Catalog()


@activity
async def cli_rc_step(ctx: WorkflowContext, n: int) -> int:
    return n


@workflow(catalog=CATALOG)
async def cli_rc_flow(ctx: WorkflowContext) -> int:
    first = await cli_rc_step(ctx, 1)
    event = await wait_event(ctx, "go")
    return first + int(event.data)


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


async def _waiting_instance(db_url: str) -> str:
    async with EddaApp(db_url, workflows=list(CATALOG), poll_interval=0.05) as app:
        iid = await cli_rc_flow.start()
        async with asyncio.timeout(15):
            while True:
                record = await app.get_instance(iid)
                if record.status is InstanceStatus.WAITING and record.lease_owner is None:
                    return iid
                await asyncio.sleep(0.01)  # bounded by the timeout above


async def _finish(db_url: str, iid: str) -> int:
    async with EddaApp(db_url, workflows=list(CATALOG), poll_interval=0.05) as app:
        await app.send_event("go", "cli-test", 41, instance_id=iid)
        return int(await app.wait_result(iid, timeout=15))


def test_pause_unpause_fork_terminate_and_the_control_log(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'rc.db'}"
    iid = asyncio.run(_waiting_instance(db))
    assert run_cli("instances", "pause", iid, "--db", db, "--reason", "audit") == (
        0,
        f"{iid}: pause applied; status paused\n",
    )
    assert run_cli("instances", "list", "--db", db, "--status", "paused")[1].splitlines()[1].startswith(iid)
    assert run_cli("instances", "unpause", iid, "--db", db)[1] == f"{iid}: unpause applied; status waiting\n"
    code, out = run_cli("instances", "fork", iid, "--db", db, "--at", "cli_rc_step", "--new-id", "cli-fork")
    assert (code, out) == (0, f"cli-fork: forked from {iid} at cli_rc_step\n")
    assert asyncio.run(_finish(db, "cli-fork")) == 42
    assert run_cli("instances", "terminate", iid, "--db", db, "--reason", "not needed")[1] == (
        f"{iid}: terminate applied; status failed\n"
    )
    code, log = run_cli("instances", "control-log", iid, "--db", db)
    lines = [json.loads(line) for line in log.splitlines()]
    assert [(e["action"], e["by"], e["reason"]) for e in lines] == [
        ("pause", "edda-mcp cli", "audit"),
        ("unpause", "edda-mcp cli", ""),
        ("fork", "edda-mcp cli", ""),
        ("terminate", "edda-mcp cli", "not needed"),
    ]
