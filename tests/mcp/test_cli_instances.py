"""``edda-mcp instances ...``, ``--db`` / ``EDDA_MCP_DB_URL`` and ``--version`` on every backend.

Most runs use the in-process ``main(argv, out=...)``; two run the real console script in a subprocess.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from durable_core import Catalog, EddaApp, InstanceStatus, TerminalError, activity, wait_event, workflow
from edda_mcp import __version__
from edda_mcp.cli import main
from edda_mcp.cli_support import parse_time

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog()


@activity
async def cli_t_step(ctx: Any, n: int) -> int:
    return n + 1


@activity
async def cli_t_refuse(ctx: Any, why: str) -> None:
    raise TerminalError(f"refused: {why}")


@workflow(catalog=CATALOG)
async def cli_t_done(ctx: Any, order_id: str, blob: str = "") -> int:
    return await cli_t_step(ctx, 1)


@workflow(catalog=CATALOG)
async def cli_t_fails(ctx: Any, order_id: str) -> None:
    await cli_t_refuse(ctx, order_id)


@workflow(catalog=CATALOG)
async def cli_t_waits(ctx: Any, order_id: str) -> str:
    event = await wait_event(ctx, "cli.approve")
    return f"approved by {event.data['by']}"


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def _app(db_url: str, **options: Any) -> EddaApp:
    return EddaApp(db_url, workflows=list(CATALOG), poll_interval=0.05, shutdown_timeout=0, **options)


async def _populate(db_url: str) -> dict[str, str]:
    """One completed (with a 600-character input), one failed and one waiting instance."""
    async with _app(db_url) as app:
        done = await cli_t_done.with_options(app=app, instance_id="cli-done").start(
            order_id="A", blob="x" * 600
        )
        failed = await cli_t_fails.with_options(app=app, instance_id="cli-failed").start(order_id="B")
        waiting = await cli_t_waits.with_options(app=app, instance_id="cli-waiting").start(order_id="C")
        await app.wait_result(done, timeout=20)
        with pytest.raises(Exception, match="refused: B"):
            await app.wait_result(failed, timeout=20)
        for _ in range(400):  # until it is parked on its event
            if (await app.get_instance(waiting)).status is InstanceStatus.WAITING:
                break
            await asyncio.sleep(0.05)
    return {"done": done, "failed": failed, "waiting": waiting}


def test_list_and_show(db_url: str) -> None:
    ids = asyncio.run(_populate(db_url))
    code, out = run_cli("instances", "list", "--db", db_url)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "INSTANCE",
        "WORKFLOW",
        "STATUS",
        "CREATED",
        "UPDATED",
        "VERSION",
    ]
    assert {line.split()[0] for line in lines[1:]} == set(ids.values())
    code, out = run_cli("instances", "list", "--db", db_url, "--status", "failed", "--status", "waiting")
    assert {line.split()[0] for line in out.splitlines()[1:]} == {ids["failed"], ids["waiting"]}
    code, out = run_cli("instances", "list", "--db", db_url, "--workflow", "cli_t_done", "--json")
    data = json.loads(out)
    assert [r["instance_id"] for r in data["instances"]] == [ids["done"]] and data["next"] is None
    assert data["instances"][0]["status"] == "completed"
    # one row per page: the printed cursor walks all three, newest first, without repeats
    seen: list[str] = []
    after: list[str] = []
    for _ in range(4):
        code, out = run_cli("instances", "list", "--db", db_url, "--limit", "1", "--json", *after)
        page = json.loads(out)
        seen += [r["instance_id"] for r in page["instances"]]
        if page["next"] is None:
            break
        after = ["--after", page["next"]]
    assert sorted(seen) == sorted(ids.values()) and len(seen) == 3
    assert run_cli("instances", "list", "--db", db_url, "--since", "1h")[1].count("cli-") == 3
    assert run_cli("instances", "list", "--db", db_url, "--until", "1h") == (0, "no instances\n")
    _check_show(db_url, ids)


async def _queued(db_url: str) -> tuple[str, str]:
    async with _app(db_url) as app:
        bound = cli_t_waits.with_options(app=app, singleton_key="acct-9", on_conflict="queue")
        return await bound.start(order_id="H"), await bound.start(order_id="Q")


def test_show_a_queued_singleton_start(db_url: str) -> None:
    holder, queued = asyncio.run(_queued(db_url))
    code, out = run_cli("instances", "show", queued, "--db", db_url)
    assert code == 0
    assert "status:         queued" in out and "singleton key:  acct-9" in out
    assert f"now queued for singleton key 'acct-9' behind {holder} (1st in line)" in out
    code, out = run_cli("instances", "list", "--db", db_url, "--status", "queued", "--json")
    assert [row["instance_id"] for row in json.loads(out)["instances"]] == [queued]


def _check_show(db_url: str, ids: dict[str, str]) -> None:
    code, out = run_cli("instances", "show", ids["failed"], "--db", db_url)
    assert code == 0
    assert "status:         failed" in out
    assert "error:          durable_core.errors:TerminalError: refused: B" in out
    assert "lease:          none" in out and "history:" in out and "cli_t_refuse" in out
    code, out = run_cli("instances", "show", ids["waiting"], "--db", db_url)
    assert "waits for:      event 'cli.approve'" in out
    code, out = run_cli("instances", "show", ids["done"], "--db", db_url, "--json")
    data = json.loads(out)
    assert data["result"] == 2 and data["history"][0]["attempts"] == 1
    assert "--full shows all" in data["input"]  # 600 characters are cut
    code, out = run_cli("instances", "show", ids["done"], "--db", db_url, "--json", "--full")
    assert json.loads(out)["input"]["blob"] == "x" * 600
    code, out = run_cli("instances", "show", ids["done"], "--db", db_url, "--json", "--steps", "0")
    assert (json.loads(out)["history"], json.loads(out)["history_omitted"]) == ([], 1)


def test_send_event_purge_cancel_resolve_resume_migrate(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_populate(db_url))
    code, out = run_cli(
        "instances", "send-event", "cli.approve", ids["waiting"], "--db", db_url, "--data", '{"by": "ops"}'
    )
    assert code == 0 and f"to instance {ids['waiting']}" in out

    async def finish() -> Any:
        async with _app(db_url) as app:
            return await app.wait_result(ids["waiting"], timeout=20)

    assert asyncio.run(finish()) == "approved by ops"
    assert run_cli("instances", "send-event", "cli.approve", "nope", "--db", db_url)[0] == 1
    # no terminal and no --yes: nothing is deleted
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert run_cli("instances", "purge", "--db", db_url, "--older-than", "0s") == (1, "nothing deleted\n")
    code, out = run_cli(
        "instances", "purge", "--db", db_url, "--older-than", "0s", "--status", "failed", "--yes"
    )
    assert (code, out) == (0, "purged 1 instance(s)\n")
    remaining = run_cli("instances", "list", "--db", db_url)[1]
    assert ids["failed"] not in remaining and ids["done"] in remaining
    assert run_cli("instances", "purge", "--db", db_url, "--older-than", "1d", "--yes") == (
        0,
        "purged 0 instance(s)\n",
    )
    assert run_cli("instances", "cancel", ids["done"], "--db", db_url) == (
        0,
        f"{ids['done']}: already-finished\n",
    )
    assert run_cli("migrate", "--db", db_url) == (0, f"schema is up to date at {db_url}\n")
    assert run_cli("instances", "resolve", ids["done"], "--did-not-happen", "--db", db_url)[0] == 1
    assert "is completed, not waiting for an answer" in capsys.readouterr().err
    assert run_cli("instances", "resume", ids["done"], "--db", db_url) == (
        0,
        f"{ids['done']}: not blocked, nothing to resume\n",
    )


READ_ONLY_COMMANDS = [
    ("instances", "list"),
    ("instances", "show", "x"),
    ("instances", "send-event", "t", "x"),
    ("instances", "purge", "--older-than", "1d", "--yes"),
    ("instances", "cancel", "x"),
    ("instances", "resume", "x"),
    ("instances", "resolve", "x", "--did-not-happen"),
]


@pytest.mark.parametrize("argv", READ_ONLY_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_sqlite_path_is_an_error_and_creates_nothing(
    argv: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "ops.db"
    code, _ = run_cli(*argv, "--db", f"sqlite:///{missing}")
    assert code == 1
    assert str(missing) in capsys.readouterr().err
    assert not missing.exists() and not missing.parent.exists()


def test_an_unmigrated_database_is_refused_not_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert run_cli("instances", "list", "--db", f"sqlite:///{empty}")[0] == 1
    assert "empty.db" in capsys.readouterr().err
    with sqlite3.connect(empty) as conn:  # no schema was created in it
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_db_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("EDDA_MCP_DB_URL", raising=False)
    assert run_cli("instances", "list")[0] == 1
    assert "pass --db URL or set EDDA_MCP_DB_URL" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("EDDA_MCP_DB_URL", url)
    assert run_cli("migrate") == (0, f"schema is up to date at {url}\n")
    assert run_cli("instances", "list") == (0, "no instances\n")


def test_version_and_bad_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"edda-mcp {__version__}\n"
    url = f"sqlite:///{tmp_path / 'v.db'}"
    assert run_cli("migrate", "--db", url)[0] == 0
    for argv, message in [
        (("instances", "list", "--since", "yesterday"), "not an ISO time"),
        (("instances", "list", "--limit", "0"), "--limit must be between 1 and 1000"),
        (("instances", "list", "--after", "garbage"), "is not a cursor printed by instances list"),
        (("instances", "purge", "--older-than", "soon", "--yes"), "not a duration"),
    ]:
        assert run_cli(*argv, "--db", url)[0] == 1
        assert message in capsys.readouterr().err


def test_parse_time_accepts_iso_and_ages() -> None:
    now = parse_time("2026-05-01T12:00:00+00:00", parse_time("2026-01-01", parse_time("1h", _utc())))
    assert now.isoformat() == "2026-05-01T12:00:00+00:00"
    assert parse_time("90m", now).isoformat() == "2026-05-01T10:30:00+00:00"
    assert parse_time("2026-05-01T12:00", now).tzinfo is not None


def _utc() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 5, 1, tzinfo=UTC)


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub.db'}"
    env = {**os.environ, "EDDA_MCP_DB_URL": url}
    command = [sys.executable, "-m", "edda_mcp", "instances", "list", "--json"]
    missing = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert not (tmp_path / "sub.db").exists()
    assert run_cli("migrate", "--db", url)[0] == 0
    listed = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert listed.returncode == 0 and json.loads(listed.stdout) == {"instances": [], "next": None}
