"""Fixtures of the MCP tests: a server per test on a fresh database, with gates and call counters reset."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from edda_mcp import EddaMCPServer
from tests.mcp import workflows as wfs


@pytest.fixture(autouse=True)
def _reset_test_state() -> None:
    wfs.CALLS.clear()
    wfs.GATES.clear()


def build_server(db_url: str, **options: Any) -> EddaMCPServer:
    """A server exposing the test workflows as durable tools."""
    server = EddaMCPServer("edda-test", db_url=db_url, poll_interval=0.05, shutdown_timeout=0.5, **options)
    server.durable_tool(
        wfs.mcp_t_three_steps, name="place_order", description="Place an order in three steps"
    )
    server.durable_tool(wfs.mcp_t_gated_order, name="gated_order", wait_seconds=0)
    server.durable_tool(wfs.mcp_t_failing, name="failing")
    return server


@pytest.fixture
async def server_on(tmp_path: Path) -> AsyncIterator[Callable[..., EddaMCPServer]]:
    """Factory of started servers on SQLite (engines stop at teardown)."""
    started: list[EddaMCPServer] = []

    def make(**options: Any) -> EddaMCPServer:
        server = build_server(f"sqlite:///{tmp_path / 'mcp.db'}", **options)
        started.append(server)
        return server

    yield make
    for server in started:
        await server.app.shutdown()
