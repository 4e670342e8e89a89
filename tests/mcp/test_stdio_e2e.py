"""A real stdio subprocess driven by the SDK client: tools, stray prints, SIGKILL + restart, raw JSON-RPC."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.mcp.support import REPO_ROOT, server_env, stdio_params, steps_log, wait_until

TARGET = "tests.mcp.programs.order_server:server"


def cli_params(db_url: str, workdir: Path) -> StdioServerParameters:
    return stdio_params(db_url, workdir, "-m", "edda_mcp", "serve", TARGET, "--db", db_url)


async def test_stdio_start_kill_restart_result(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'stdio.db'}"
    async with Client(cli_params(db_url, tmp_path)) as client:
        started = await client.call_tool("e2e_order", {"order_id": "S1"})
        assert not started.is_error, started
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]

        async def reserved() -> bool:
            status = await client.call_tool("e2e_order_status", {"instance_id": iid})
            assert status.structured_content is not None
            return bool(status.structured_content["steps_completed"] >= 1)

        await wait_until(reserved, "the first step")
        pid_result = await client.call_tool("server_pid", {})
        assert pid_result.structured_content is not None
        pid = int(pid_result.structured_content["result"])
        os.kill(pid, signal.SIGKILL)
    # a new server process on the same database finishes the run; the first step does not run again
    (tmp_path / "S1.go").touch()
    async with Client(cli_params(db_url, tmp_path)) as client:
        result = await client.call_tool("e2e_order_result", {"instance_id": iid, "wait_seconds": 30})
    assert not result.is_error, result
    assert result.structured_content is not None
    assert result.structured_content["result"] == {"steps": ["S1:reserve", "S1:go", "S1:ship"]}
    assert steps_log(tmp_path) == ["S1:reserve", "S1:ship"]


def _exchange(proc: subprocess.Popen[str], message: dict[str, object] | str) -> dict[str, object]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    return dict(json.loads(line))  # every stdout line must be JSON-RPC


@pytest.mark.timeout(60)
def test_raw_initialize_of_a_handshake_era_host_and_malformed_input(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'raw.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edda_mcp", "serve", TARGET, "--db", db_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(db_url, tmp_path),
        cwd=str(REPO_ROOT),
    )
    try:
        # exactly what Claude Desktop sends first
        init = _exchange(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2024-11-05",
                    "capabilities": {},
                    "clientInfo": {"name": "claude-ai", "version": "0.1.0"},
                },
            },
        )
        result = init["result"]
        assert isinstance(result, dict)
        assert result["protocolVersion"] == "2024-11-05"
        assert result["serverInfo"]["name"] == "e2e-order-server"
        assert "tools" in result["capabilities"]
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        parse_error = _exchange(
            proc, "{this is not json"
        )  # answered as JSON-RPC prescribes; it keeps serving
        assert parse_error["id"] is None and parse_error["error"]["code"] == -32700  # type: ignore[index]
        bad_method = _exchange(proc, {"jsonrpc": "2.0", "id": 1, "method": "no/such/method"})
        assert bad_method["error"]["code"] == -32601  # type: ignore[index]
        unknown_tool = _exchange(
            proc,
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "nope", "arguments": {}}},
        )
        assert "nope" in json.dumps(unknown_tool)
        tools = _exchange(proc, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        names = {t["name"] for t in tools["result"]["tools"]}  # type: ignore[index]
        assert {"e2e_order", "e2e_order_status", "e2e_order_result", "e2e_order_cancel"} <= names
        call = _exchange(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "tools/call",
                "params": {"name": "e2e_order", "arguments": {"order_id": "R1"}},
            },
        )
        assert call["result"]["structuredContent"]["workflow"] == "e2e_order"  # type: ignore[index]
    finally:
        (tmp_path / "R1.go").touch()
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=20)
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()
    # stray prints (at import and inside the activity) went to stderr, never to the protocol stream
    assert "stray print at import time" in stderr
