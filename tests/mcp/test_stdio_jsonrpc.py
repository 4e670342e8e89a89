"""JSON-RPC 2.0 conformance over stdio: malformed lines are answered, NaN arguments are named, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.support import REPO_ROOT, server_env

TARGET = "tests.mcp.programs.host_matrix:server"
PARSE_ERROR, INVALID_REQUEST = -32700, -32600

MALFORMED: list[tuple[str, int, object]] = [
    ("{this is not json", PARSE_ERROR, None),
    ('{"jsonrpc": "2.0", "id": 1, "method": "ping"', PARSE_ERROR, None),
    ("[]", INVALID_REQUEST, None),
    ('[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', INVALID_REQUEST, None),
    ("42", INVALID_REQUEST, None),
    ('"ping"', INVALID_REQUEST, None),
    ('{"jsonrpc": "2.0", "id": 3}', INVALID_REQUEST, 3),
    ('{"id": 4, "method": "ping"}', INVALID_REQUEST, 4),
    ('{"jsonrpc": "1.0", "id": "a", "method": "ping"}', INVALID_REQUEST, "a"),
    ('{"jsonrpc": "2.0", "id": 6, "method": 7}', INVALID_REQUEST, 6),
    ('{"jsonrpc": "2.0", "id": 7, "method": "ping", "params": [1]}', INVALID_REQUEST, 7),
    ('{"jsonrpc": "2.0", "id": null, "method": "ping"}', INVALID_REQUEST, None),
    ('{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}', INVALID_REQUEST, None),
    ('{"jsonrpc": "2.0", "id": [1], "method": "ping"}', INVALID_REQUEST, None),
    ('{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}', INVALID_REQUEST, None),
    ('{"jsonrpc": "2.0", "id": true, "method": "ping"}', INVALID_REQUEST, None),
]


class StdioPeer:
    """The raw JSON-RPC side of a host talking to ``edda-mcp serve`` over pipes."""

    def __init__(self, db_url: str, workdir: Path) -> None:
        self._log = (workdir / "stderr.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edda_mcp", "serve", TARGET, "--db", db_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=server_env(db_url, workdir),
            cwd=str(REPO_ROOT),
        )

    def exchange(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, f"the server closed stdout after {line!r}"
        return dict(json.loads(answer))

    def request(self, request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        return self.exchange(json.dumps(message))

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=30)
        finally:
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self._log.close()


@pytest.fixture
def peer(tmp_path: Path) -> Any:
    peer = StdioPeer(f"sqlite:///{tmp_path / 'rpc.db'}", tmp_path)
    try:
        init = peer.request(
            0,
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        )
        assert init["result"]["serverInfo"]["name"] == "host-matrix"
        assert peer.proc.stdin is not None
        peer.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        yield peer
    finally:
        if not peer._log.closed:
            peer.close()


@pytest.mark.timeout(120)
def test_malformed_lines_get_the_prescribed_error_and_the_server_keeps_serving(peer: StdioPeer) -> None:
    for line, code, request_id in MALFORMED:
        answer = peer.exchange(line)
        assert answer["jsonrpc"] == "2.0" and "result" not in answer, (line, answer)
        assert answer["error"]["code"] == code, (line, answer)
        assert answer["id"] == request_id, (line, answer)
        assert peer.request(99, "ping") == {"jsonrpc": "2.0", "id": 99, "result": {}}, line
    assert peer.close() == 0


@pytest.mark.timeout(120)
def test_nan_and_infinity_arguments_are_refused_naming_the_field(peer: StdioPeer, tmp_path: Path) -> None:
    call = '{"jsonrpc": "2.0", "id": %d, "method": "tools/call", "params": {"name": "approval", "arguments": %s}}'
    for request_id, arguments in enumerate(
        ('{"amount": NaN}', '{"amount": Infinity}', '{"amount": -Infinity}'), 1
    ):
        answer = peer.exchange(call % (request_id, arguments))
        assert answer["id"] == request_id
        result = answer["result"]
        assert result["isError"] is True and "structuredContent" not in result
        text = result["content"][0]["text"]
        assert "amount" in text and "NaN and Infinity are not JSON numbers" in text, text
        assert result["_meta"]["edda/error"]["error"] == "invalid_input"
    listed = peer.request(10, "tools/call", {"name": "approval_status", "arguments": {"instance_id": "none"}})
    assert listed["result"]["isError"] is True  # still serving; nothing was started
    assert peer.close() == 0
    log = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in log and "Error executing tool" not in log, log
