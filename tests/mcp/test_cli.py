"""The ``edda-mcp`` command line: bad targets, Claude Desktop install, instances, replay, migrate."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from durable_core import EddaApp
from edda_mcp.cli import main
from tests.mcp import workflows as wfs

PROGRAM = "tests.mcp.programs.order_server:server"


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def program_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("EDDA_MCP_TEST_DB", db_url)
    monkeypatch.setenv("EDDA_MCP_TEST_DIR", str(tmp_path))
    return db_url


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:server", "cannot import module 'no_such_module_xyz'"),
        ("tests.mcp.programs.order_server:nope", "has no attribute 'nope'"),
        ("tests.mcp.programs.order_server:e2e_order", "is a Workflow, not an EddaMCPServer"),
        ("tests.mcp.workflows", "must hold exactly one EddaMCPServer (found: none)"),
        ("tests.mcp.programs.order_server:1bad", "is not module:attribute"),
        ("missing/file.py:server", "no such file"),
    ],
)
def test_bad_targets_are_clear_errors(
    target: str, message: str, program_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run_cli("install", "claude-desktop", target, "--config", "unused.json")
    assert code == 1
    assert message in capsys.readouterr().err


def test_install_claude_desktop_merges_with_absolute_paths(tmp_path: Path, program_env: str) -> None:
    config = tmp_path / "claude" / "claude_desktop_config.json"
    config.parent.mkdir()
    other = {"command": "node", "args": ["other.js"]}
    config.write_text(json.dumps({"mcpServers": {"other": other}, "theme": "dark"}))
    code, out = run_cli(
        "install", "claude-desktop", PROGRAM, "--config", str(config), "--db", "data/orders.db"
    )
    assert code == 0
    written = json.loads(config.read_text())
    assert written["theme"] == "dark" and written["mcpServers"]["other"] == other
    entry = written["mcpServers"]["e2e-order-server"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][:4] == ["-m", "edda_mcp", "serve", PROGRAM]
    db = entry["args"][entry["args"].index("--db") + 1]
    assert db.startswith("sqlite:////") and db.endswith("/data/orders.db")
    assert Path(entry["env"]["PYTHONPATH"]).is_absolute()
    assert str(config) in out and '"e2e-order-server"' in out
    # installing again replaces the entry instead of duplicating it
    assert run_cli("install", "claude-desktop", PROGRAM, "--config", str(config), "--name", "orders")[0] == 0
    assert set(json.loads(config.read_text())["mcpServers"]) == {"other", "e2e-order-server", "orders"}


def test_install_refuses_a_broken_config(
    tmp_path: Path, program_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text("{broken")
    assert run_cli("install", "claude-desktop", PROGRAM, "--config", str(config))[0] == 1
    assert "is not valid JSON" in capsys.readouterr().err
    assert config.read_text() == "{broken"


async def _make_instances(db_url: str) -> tuple[str, str]:
    async with EddaApp(db_url, poll_interval=0.05, shutdown_timeout=0) as app:
        done = await wfs.mcp_t_three_steps.with_options(app=app).start(order_id="CLI1")
        await app.wait_result(done, timeout=20)
        gated = await wfs.mcp_t_gated_order.with_options(app=app, instance_id="cli-gated").start(
            order_id="CLI2", gate="never"
        )
    return done, gated


def test_instances_list_show_cancel_resume_and_migrate(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'ops.db'}"
    assert run_cli("migrate", "--db", db_url) == (0, f"schema is up to date at {db_url}\n")
    done, gated = asyncio.run(_make_instances(db_url))
    code, listing = run_cli("instances", "list", "--db", db_url)
    assert code == 0 and done in listing and gated in listing and "completed" in listing
    code, completed_only = run_cli("instances", "list", "--db", db_url, "--status", "completed")
    assert done in completed_only and gated not in completed_only
    code, shown = run_cli("instances", "show", done, "--db", db_url, "--json")
    data = json.loads(shown)
    assert data["status"] == "completed" and data["steps_completed"] == 3
    assert [h["name"] for h in data["history"]] == ["mcp_t_step"] * 3
    assert run_cli("instances", "cancel", gated, "--db", db_url) == (0, f"{gated}: requested\n")
    assert run_cli("instances", "resume", done, "--db", db_url) == (
        0,
        f"{done}: not blocked, nothing to resume\n",
    )


def test_instances_unknown_id_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_url = f"sqlite:///{tmp_path / 'none.db'}"
    assert run_cli("migrate", "--db", db_url)[0] == 0
    assert run_cli("instances", "show", "nope", "--db", db_url)[0] == 1
    assert "no workflow instance with id 'nope'" in capsys.readouterr().err


def test_replay_checks_stored_histories(tmp_path: Path, program_env: str) -> None:
    asyncio.run(_make_instances(program_env))
    code, out = run_cli("replay", "tests.mcp.workflows", "--db", program_env, "--all")
    assert code == 0, out
    assert "2 instance(s) checked, 0 would block" in out
