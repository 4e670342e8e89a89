"""The TypeScript MCP SDK over streamable HTTP: progress per step, human input per session mode."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.support import REPO_ROOT, http_server

TS_DIR = REPO_ROOT / "tests" / "ts"
SCRIPT = TS_DIR / "http_progress_client.mjs"


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the TypeScript SDK client cannot run")
    if not (TS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("tests/ts/node_modules is missing: run `make tests/ts/node_modules/.installed` (npm ci)")
    return node


async def run_client(tmp_path: Path, *serve_options: str) -> dict[str, Any]:
    """Serve the remote test program over HTTP and run the TypeScript client against it."""
    node = node_or_skip()
    db_url = f"sqlite:///{tmp_path / 'ts.db'}"
    argv = ["-m", "edda_mcp", "serve", "tests.mcp.programs.remote_server:server", "--db", db_url]
    argv += ["--transport", "http", *serve_options, "--port"]
    async with http_server(db_url, tmp_path, argv=argv) as (url, _):
        proc = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            url,
            cwd=str(TS_DIR),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(120):
            out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    seen: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return seen


async def test_typescript_client_gets_progress_and_answers_through_the_respond_tool(tmp_path: Path) -> None:
    seen = await run_client(tmp_path)
    assert [p["progress"] for p in seen["progress"]] == [1, 2, 3], seen
    assert all(p["message"].startswith(f"step {p['progress']} done") for p in seen["progress"])
    assert seen["steps"]["result"] == ["T:reserve", "T:charge", "T:ship"]
    assert seen["started"]["status"] == "waiting" and "remote_approval_respond" in seen["startedText"]
    assert seen["responded"]["event_type"] == "approval"
    assert seen["result"]["result"] == "9.00 approved by ts"
    assert seen["elicitations"] == 0  # stateless handshake-era HTTP cannot carry a server request


async def test_typescript_client_is_asked_with_stateful_sessions(tmp_path: Path) -> None:
    seen = await run_client(tmp_path, "--stateful-sessions")
    assert [p["progress"] for p in seen["progress"]] == [1, 2, 3], seen
    assert seen["elicitations"] == 1 and seen["responded"] is None
    assert seen["result"]["status"] == "completed"
    assert seen["result"]["result"] == "9.00 approved by ts-elicited"
