"""Helpers of the end-to-end MCP tests: subprocess servers over stdio and HTTP, ports, polling."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from mcp import StdioServerParameters
from mcp.types import CallToolResult

from edda_mcp import error_details

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = "tests.mcp.programs.order_server"
POLL = 0.05


def server_env(db_url: str, workdir: Path) -> dict[str, str]:
    """Environment of a test server process."""
    env = dict(os.environ)
    env.update(
        EDDA_MCP_TEST_DB=db_url,
        EDDA_MCP_TEST_DIR=str(workdir),
        PYTHONPATH=str(REPO_ROOT),
        PYTHONWARNINGS="error",
    )
    return env


def stdio_params(db_url: str, workdir: Path, *args: str) -> StdioServerParameters:
    """Launch parameters of the test server over stdio (``-m PROGRAM`` unless ``args`` say otherwise)."""
    return StdioServerParameters(
        command=sys.executable,
        args=list(args) or ["-m", PROGRAM],
        env=server_env(db_url, workdir),
        cwd=str(workdir),
    )


def cli_http_argv(db_url: str, *options: str) -> list[str]:
    """``edda-mcp serve`` of the test server over HTTP with ``options`` (the port is appended)."""
    target = f"{PROGRAM}:server"
    return ["-m", "edda_mcp", "serve", target, "--db", db_url, "--transport", "http", *options, "--port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(predicate: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(POLL)


@asynccontextmanager
async def http_server(
    db_url: str,
    workdir: Path,
    *,
    argv: list[str] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run the test server over streamable HTTP on ``port`` (default: a free one); yield its MCP URL and process."""
    port = port or free_port()
    log = (workdir / f"http-{port}.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once; polled without blocking the loop
        [sys.executable, *(argv or cli_http_argv(db_url)), str(port)],
        env=env or server_env(db_url, workdir),
        cwd=str(workdir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {read_log(workdir, port)}")
        ping = {"jsonrpc": "2.0", "id": 0, "method": "ping"}
        headers = {"Accept": "application/json, text/event-stream"}
        try:
            async with httpx.AsyncClient() as client:
                await client.post(f"{base}/mcp", json=ping, headers=headers, timeout=5)
        except httpx.TransportError:
            return False
        return True

    try:
        try:
            # a loaded CI machine can take a minute just to import the server program: be generous
            await wait_until(ready, f"HTTP server on port {port}", timeout=180)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; server output:\n{read_log(workdir, port)}") from None
        yield f"{base}/mcp", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def read_log(workdir: Path, port: int) -> str:
    """What the HTTP server on ``port`` printed."""
    return (workdir / f"http-{port}.log").read_text(errors="replace")


def steps_log(workdir: Path) -> list[str]:
    """Live step executions logged by the test server's activities."""
    path = workdir / "steps.log"
    return path.read_text().splitlines() if path.exists() else []


def code_of(result: CallToolResult) -> str | None:
    """The error code of a durable tool's error result (from ``_meta``; errors have no structured content)."""
    details = error_details(result)
    return None if details is None else str(details["error"])
