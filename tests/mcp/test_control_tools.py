"""The opt-in run-control admin tools (``server.add_run_control_tools()``) over the in-memory SDK client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from edda_mcp import EddaMCPServer
from edda_mcp.control_tools import CONTROL_TOOL_NAMES
from edda_mcp.errors import ToolDefinitionError
from tests.mcp import workflows as wfs
from tests.mcp.support import code_of


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(15):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)  # bounded by the timeout above


async def test_admin_tools_are_off_by_default(server_on: Callable[..., EddaMCPServer]) -> None:
    async with Client(server_on().mcp) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names.isdisjoint(CONTROL_TOOL_NAMES)


async def test_the_constructor_keyword_adds_them_with_a_prefix(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    for option, prefix in ((True, "runs"), ("ops", "ops")):
        async with Client(server_on(run_control_tools=option).mcp) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            expected = {name.replace("runs_", f"{prefix}_", 1) for name in CONTROL_TOOL_NAMES}
            assert expected <= names, (option, names)
            refused = await client.call_tool(f"{prefix}_pause", {"instance_id": "no-such-run"})
            assert refused.is_error and code_of(refused) == "unknown_instance"
    for bad in ("", "has space", "x" * 65, 3):
        with pytest.raises(ToolDefinitionError, match="run-control tool prefix"):
            server_on(run_control_tools=bad)
    with pytest.raises(ToolDefinitionError, match="run-control tool prefix"):
        server_on().add_run_control_tools("no/slash")


async def test_pause_then_unpause_a_running_run(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    server.add_run_control_tools()
    async with Client(server.mcp) as client:
        iid = data(await client.call_tool("gated_order", {"order_id": "P1", "gate": "p1"}))["instance_id"]
        await _until(lambda: wfs.CALLS["gated:p1"] > 0)
        out = data(await client.call_tool("runs_pause", {"instance_id": iid, "reason": "look first"}))
        assert (out["action"], out["outcome"], out["status"]) == ("pause", "applied", "paused")
        wfs.GATES.get("p1").set()  # the step in flight finishes; the run stops before the next one
        await _until(lambda: iid not in server.app._dispatcher.running)
        status = data(await client.call_tool("gated_order_status", {"instance_id": iid}))
        assert (status["status"], status["steps_completed"], wfs.CALLS["P1:ship"]) == ("paused", 2, 0)
        again = data(await client.call_tool("runs_pause", {"instance_id": iid}))
        assert again["outcome"] == "already-applied"
        assert data(await client.call_tool("runs_unpause", {"instance_id": iid}))["outcome"] == "applied"
        done = data(await client.call_tool("gated_order_result", {"instance_id": iid, "wait_seconds": 30}))
        assert done["result"]["third"] == "P1:ship-done" and wfs.CALLS["P1:ship"] == 1
        log = await server.app.control_log(iid)  # inside: the server's engine stops with its last client
        assert [(e.action.value, e.by, e.reason) for e in log] == [
            ("pause", "mcp", "look first"),
            ("unpause", "mcp", ""),
        ]


async def test_terminate_fork_and_refusals(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    server.add_run_control_tools()
    async with Client(server.mcp) as client:
        assert set(CONTROL_TOOL_NAMES) <= {tool.name for tool in (await client.list_tools()).tools}
        iid = data(await client.call_tool("gated_order", {"order_id": "T1", "gate": "t1"}))["instance_id"]
        await _until(lambda: wfs.CALLS["gated:t1"] > 0)
        out = data(await client.call_tool("runs_terminate", {"instance_id": iid, "reason": "stuck"}))
        assert (out["outcome"], out["status"]) == ("applied", "failed")
        wfs.GATES.get("t1").set()  # the step in flight ends; the fenced-out run records nothing more
        await _until(lambda: iid not in server.app._dispatcher.running)
        assert wfs.CALLS["refund:T1"] == 0 and wfs.CALLS["T1:ship"] == 0  # no compensation, no next step
        assert code_of(await client.call_tool("runs_terminate", {"instance_id": iid})) is None  # idempotent
        assert code_of(await client.call_tool("runs_retry", {"instance_id": "nope"})) == "unknown_instance"

        fork = data(
            await client.call_tool("runs_fork", {"instance_id": iid, "at": 1, "new_instance_id": "f-1"})
        )
        assert (fork["instance_id"], fork["forked_from"], fork["outcome"]) == ("f-1", iid, "applied")
        assert (await server.app.wait_result("f-1", timeout=15))["third"] == "T1:ship-done"
        assert (wfs.CALLS["T1:reserve"], wfs.CALLS["T1:ship"]) == (1, 1)  # the copied step did not run again
        await _until(lambda: "f-1" not in server.app._dispatcher.running)
        again = data(
            await client.call_tool("runs_fork", {"instance_id": iid, "at": 1, "new_instance_id": "f-1"})
        )
        assert again["outcome"] == "already-applied"
        assert code_of(await client.call_tool("runs_fork", {"instance_id": iid, "at": 9})) == "conflict"


async def test_retry_keeps_the_completed_step(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    server.add_run_control_tools()
    async with Client(server.mcp) as client:
        failed = data(await client.call_tool("failing", {"reason": "x"}))["instance_id"]
        await client.call_tool("failing_result", {"instance_id": failed, "wait_seconds": 30})
        out = data(await client.call_tool("runs_retry", {"instance_id": failed, "reason": "fixed?"}))
        assert (out["action"], out["outcome"]) == ("retry", "applied")
        again = await client.call_tool("failing_result", {"instance_id": failed, "wait_seconds": 30})
        assert code_of(again) == "failed"  # the code still raises after its step
        assert wfs.CALLS["before-failure"] == 1  # the completed step was replayed, not re-run
        assert [e.action.value for e in await server.app.control_log(failed)] == ["retry"]
