"""Golden histories: export a recorded run once, then replay it against every new version of the code.

In a project, ``edda-mcp instances export ID --db URL > tests/golden/signup.json`` writes the file and a
pytest test like ``test_golden_histories`` below runs in CI; no database rows are needed to check it.
Here the history is recorded into a temporary database first.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from durable_core import Catalog, EddaApp, InstanceStatus, WorkflowContext, activity, wait_event, workflow


@activity
async def create_account(ctx: WorkflowContext, email: str) -> str:
    return f"acct-{email}"


@activity
async def send_welcome(ctx: WorkflowContext, email: str) -> None:
    return None


recorded, patched, unguarded = Catalog(), Catalog(), Catalog()


@workflow(catalog=recorded, name="signup")
async def signup_recorded(ctx: WorkflowContext, email: str) -> str:
    account = await create_account(ctx, email)
    await wait_event(ctx, "confirmed")
    return account


@workflow(catalog=patched, name="signup")
async def signup_patched(ctx: WorkflowContext, email: str) -> str:
    account = await create_account(ctx, email)
    if ctx.patched("welcome-mail"):
        await send_welcome(ctx, email)
    await wait_event(ctx, "confirmed")
    return account


@workflow(catalog=unguarded, name="signup")
async def signup_unguarded(ctx: WorkflowContext, email: str) -> str:
    account = await create_account(ctx, email)
    await send_welcome(ctx, email)  # inserted without a guard
    await wait_event(ctx, "confirmed")
    return account


async def record_golden(db_url: str, golden: Path) -> None:
    async with EddaApp(db_url, workflows=list(recorded), poll_interval=0.05) as app:
        iid = await app.start("signup", {"email": "ada@example.com"}, instance_id="signup-1")
        while (await app.get_instance(iid)).status is not InstanceStatus.WAITING:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        exported = await app.export_history(iid)  # what `edda-mcp instances export` prints
    golden.write_text(json.dumps(exported, indent=2))  # noqa: ASYNC240 - a small file, once


async def test_golden_histories(code: Catalog, golden_dir: Path) -> list[str]:
    """What a CI test does: replay every golden file against the code; return the failures."""
    histories = sorted(golden_dir.glob("*.json"))  # noqa: ASYNC240 - listing a directory, once
    async with EddaApp("sqlite:///:memory:", workflows=list(code), run_workers=False) as app:
        reports = await app.replay_check(histories=histories)
    return [
        f"{r.instance_id}: position {r.position}: expected {r.expected}, actual {r.actual}"
        for r in reports
        if not r.ok
    ]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        golden_dir = Path(tmp) / "golden"
        golden_dir.mkdir()
        await record_golden(f"sqlite:///{Path(tmp) / 'prod-copy.db'}", golden_dir / "signup-1.json")
        exported = json.loads((golden_dir / "signup-1.json").read_text())
        print(
            f"exported format {exported['format']} v{exported['format_version']}:",
            [entry["kind"] for entry in exported["history"]],
        )
        print("patched code:", await test_golden_histories(patched, golden_dir) or "ok")
        print("unguarded code:", await test_golden_histories(unguarded, golden_dir))


if __name__ == "__main__":
    asyncio.run(main())
