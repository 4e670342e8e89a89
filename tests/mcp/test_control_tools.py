"""The opt-in run-control admin tools (``admin_tools=True``) over the in-memory SDK client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp import Client
from mcp.types import CallToolResult

from edda_mcp import EddaMCPServer
from edda_mcp.control_tools import CONTROL_TOOL_NAMES
from tests.mcp import workflows as wfs
from tests.mcp.support import code_of, wait_until


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


def released(server: EddaMCPServer, iid: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await server.app.get_instance(iid)).lease_owner is None

    return check


async def test_admin_tools_are_off_by_default(server_on: Callable[..., EddaMCPServer]) -> None:
    async with Client(server_on().mcp) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names.isdisjoint(CONTROL_TOOL_NAMES)


async def test_pause_unpause_terminate_fork_and_retry_through_the_tools(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on(admin_tools=True)
    async with Client(server.mcp) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert set(CONTROL_TOOL_NAMES) <= names

        # pause a run while its gated step runs; the step finishes, the run stops before the next one
        paused = data(await client.call_tool("gated_order", {"order_id": "P1", "gate": "p1"}))["instance_id"]
        await wait_until(lambda: _calls("gated:p1"), "the gated step started")
        out = data(await client.call_tool("runs_pause", {"instance_id": paused, "reason": "look first"}))
        assert (out["action"], out["outcome"], out["status"]) == ("pause", "applied", "paused")
        wfs.GATES.get("p1").set()
        await wait_until(released(server, paused), "the paused run gave its worker up")
        status = data(await client.call_tool("gated_order_status", {"instance_id": paused}))
        assert status["status"] == "paused" and status["steps_completed"] == 2
        assert wfs.CALLS["P1:ship"] == 0
        again = data(await client.call_tool("runs_pause", {"instance_id": paused}))
        assert again["outcome"] == "already-applied"
        data(await client.call_tool("runs_unpause", {"instance_id": paused}))
        done = data(await client.call_tool("gated_order_result", {"instance_id": paused, "wait_seconds": 30}))
        assert done["result"]["third"] == "P1:ship-done" and wfs.CALLS["P1:ship"] == 1

        # terminate a wedged run: failed at once, no refund (compensation) runs
        wedged = data(await client.call_tool("gated_order", {"order_id": "T1", "gate": "never"}))[
            "instance_id"
        ]
        out = data(await client.call_tool("runs_terminate", {"instance_id": wedged, "reason": "stuck"}))
        assert (out["outcome"], out["status"]) == ("applied", "failed")
        assert wfs.CALLS["refund:T1"] == 0
        refused = await client.call_tool("runs_terminate", {"instance_id": paused})
        assert code_of(refused) == "conflict"

        # fork the finished run at its last step: only that step runs again
        fork = data(
            await client.call_tool("runs_fork", {"instance_id": paused, "at": 2, "new_instance_id": "f-1"})
        )
        assert (fork["instance_id"], fork["forked_from"], fork["outcome"]) == ("f-1", paused, "applied")
        await client.call_tool("gated_order_result", {"instance_id": "f-1", "wait_seconds": 30})
        assert (wfs.CALLS["P1:reserve"], wfs.CALLS["gated:p1"], wfs.CALLS["P1:ship"]) == (1, 1, 2)
        repeat = data(
            await client.call_tool("runs_fork", {"instance_id": paused, "at": 2, "new_instance_id": "f-1"})
        )
        assert repeat["outcome"] == "already-applied"

        # retry a failed run: its completed step is kept
        failed = data(await client.call_tool("failing", {"reason": "x"}))["instance_id"]
        await client.call_tool("failing_result", {"instance_id": failed, "wait_seconds": 30})
        out = data(await client.call_tool("runs_retry", {"instance_id": failed}))
        assert out["outcome"] == "applied"
        await client.call_tool("failing_result", {"instance_id": failed, "wait_seconds": 30})
        assert wfs.CALLS["before-failure"] == 1
        assert code_of(await client.call_tool("runs_retry", {"instance_id": "nope"})) == "unknown_instance"
    log = await server.app.control_log(paused)
    assert [(e.action.value, e.by, e.reason) for e in log] == [
        ("pause", "mcp", "look first"),
        ("unpause", "mcp", ""),
        ("fork", "mcp", ""),
    ]


async def _calls(name: str) -> bool:
    return wfs.CALLS[name] > 0
