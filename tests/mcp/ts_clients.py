"""Real MCP host clients for tests: the TypeScript SDK client and the MCP Inspector CLI (``tests/ts``).

:func:`sdk_session` runs ``tests/ts/sdk_session.mjs`` (one TypeScript SDK ``Client`` over stdio or
streamable HTTP) and sends it requests over a pipe; :func:`inspector` runs ``mcp-inspector --cli``
once. Both need ``node`` and ``tests/ts/node_modules`` (``make tests/ts/node_modules/.installed``);
without them :func:`require_ts_clients` skips the test with the reason (CI installs both, and a skip
fails CI). Reusable by any test: a connection description in, JSON results out.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.support import REPO_ROOT

TS_DIR = REPO_ROOT / "tests" / "ts"
SDK_SESSION = TS_DIR / "sdk_session.mjs"
INSPECTOR = TS_DIR / "node_modules" / ".bin" / "mcp-inspector"
INSTALLED_STAMP = TS_DIR / "node_modules" / ".installed"
SCHEMA_MISMATCH = -32602
"""JSON-RPC code the clients raise when structured content does not match the tool's outputSchema."""


def require_ts_clients() -> str:
    """The ``node`` executable; skips the calling test when node or ``tests/ts/node_modules`` is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the TypeScript SDK / MCP Inspector tests need Node 20+")
    if not INSTALLED_STAMP.exists() or not INSPECTOR.exists():
        pytest.skip("tests/ts/node_modules is missing: run `make tests/ts/node_modules/.installed` (npm ci)")
    return node


@dataclass(frozen=True)
class SdkAnswer:
    """One answer of the TypeScript SDK client: a result it accepted, or the error it raised."""

    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error_code: int | None = None
    error_message: str = ""

    @property
    def text(self) -> str:
        """The text blocks of a tool result, joined."""
        return "\n".join(
            str(b.get("text", "")) for b in self.result.get("content", []) if b.get("type") == "text"
        )

    @property
    def is_error(self) -> bool:
        """Whether the tool result has ``isError`` set."""
        return bool(self.result.get("isError"))


class SdkSession:
    """A running ``sdk_session.mjs``: one connected TypeScript SDK client."""

    def __init__(self, proc: asyncio.subprocess.Process, tools: Sequence[str]) -> None:
        self._proc = proc
        self._next_id = 0
        self.tools = tuple(tools)

    async def request(self, request: Mapping[str, Any], timeout: float = 60.0) -> SdkAnswer:
        """Send one request (``{"tool": ..., "arguments": ...}`` or ``{"method": ...}``); its answer."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._next_id += 1
        self._proc.stdin.write((json.dumps({**request, "id": self._next_id}) + "\n").encode())
        await self._proc.stdin.drain()
        line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        if not line:
            raise AssertionError(f"the TypeScript client exited ({await self._proc.wait()}) before answering")
        answer = json.loads(line)
        assert answer["id"] == self._next_id, answer
        if answer["ok"]:
            return SdkAnswer(ok=True, result=dict(answer["result"]))
        error = answer["error"]
        return SdkAnswer(ok=False, error_code=error.get("code"), error_message=str(error.get("message")))

    async def call(
        self, tool: str, arguments: Mapping[str, Any] | None = None, timeout: float = 60.0
    ) -> SdkAnswer:
        """``client.callTool`` (the SDK validates the result against the tool's outputSchema)."""
        return await self.request({"tool": tool, "arguments": dict(arguments or {})}, timeout)


@asynccontextmanager
async def node_client(
    script: Path, connection: Mapping[str, Any], log_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, Any]]]:
    """Run a node client script of ``tests/ts`` on ``connection``; yield it and its first (ready) line.

    The script reads requests on stdin and answers one JSON line each; closing stdin ends it. Its stderr
    (and a stdio server's stderr) goes to ``log_path``.
    """
    node = require_ts_clients()
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(script),
            json.dumps(dict(connection)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            cwd=str(TS_DIR),
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 90)
        if not line:
            raise AssertionError(f"the TypeScript client did not connect:\n{_read(log_path)}")
        yield proc, json.loads(line)
    finally:
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@asynccontextmanager
async def sdk_session(connection: Mapping[str, Any], log_path: Path) -> AsyncIterator[SdkSession]:
    """Connect the TypeScript SDK client (see ``tests/ts/sdk_session.mjs`` for ``connection``).

    Its stderr (and a stdio server's stderr) goes to ``log_path``.
    """
    async with node_client(SDK_SESSION, connection, log_path) as (proc, ready):
        assert ready["event"] == "ready", ready
        yield SdkSession(proc, ready["tools"])


@dataclass(frozen=True)
class InspectorRun:
    """Exit code and output of one ``mcp-inspector --cli`` run (``--format json``)."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def payload(self) -> dict[str, Any]:
        """The JSON object it printed on stdout (``{"result": ...}``)."""
        return dict(json.loads(self.stdout))


async def inspector(args: Sequence[str], home: Path, timeout: float = 120.0) -> InspectorRun:
    """Run ``mcp-inspector --cli --format json ARGS`` with ``HOME`` at ``home`` (it keeps state there).

    Exit codes of the Inspector 2.x CLI: 0 ok, 5 the tool returned ``isError``, other non-zero codes
    are failures (a schema mismatch, a protocol or connection error).
    """
    require_ts_clients()
    _make_dir(home)
    env = dict(os.environ, HOME=str(home), NO_UPDATE_NOTIFIER="1", CI="1")
    proc = await asyncio.create_subprocess_exec(
        str(INSPECTOR),
        "--cli",
        "--format",
        "json",
        "--connect-timeout",
        "90000",  # a shared, loaded CI machine can take longer than the default 15 s to start a server
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(REPO_ROOT),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"mcp-inspector {' '.join(args)} did not finish in {timeout}s") from None
    assert proc.returncode is not None
    return InspectorRun(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
