"""An at-most-once step with an unknown outcome, seen and answered over MCP (in-memory SDK client).

The step is interrupted by shutting its server's engine down mid-attempt; a second server on the same
database then finds the started mark and parks the run as ``outcome_unknown``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcp import Client
from mcp.types import CallToolResult

from durable_core import InstanceStatus, WorkflowContext, activity
from edda_mcp import EddaMCPServer
from tests.mcp.support import code_of

ENTERED = asyncio.Event()
ATTEMPTS: list[int] = []


@activity(at_most_once=True)
async def mcp_t_charge_card(ctx: WorkflowContext, amount: int) -> str:
    ATTEMPTS.append(ctx.attempt)
    if len(ATTEMPTS) == 1:
        ENTERED.set()
        await asyncio.Event().wait()  # interrupted here: the first server's engine shuts down
    return f"charged {amount}"


async def mcp_t_pay(ctx: WorkflowContext, amount: int) -> str:
    """Charge a card at most once."""
    return await mcp_t_charge_card(ctx, amount)


def _server(db_url: str, *, admin: bool) -> EddaMCPServer:
    server = EddaMCPServer("edda-test", db_url=db_url, poll_interval=0.05, shutdown_timeout=0.1)
    server.durable_tool(mcp_t_pay, name="pay", wait_seconds=0)
    if admin:
        server.add_resolve_tool()
    return server


def _structured(result: CallToolResult) -> dict[str, object]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def _outcome_unknown_run(tmp_path: Path) -> tuple[EddaMCPServer, str]:
    ENTERED.clear()
    ATTEMPTS.clear()
    db_url = f"sqlite:///{tmp_path / 'mcp.db'}"
    first = _server(db_url, admin=False)
    async with first.running(), Client(first.mcp) as client:
        iid = str(_structured(await client.call_tool("pay", {"amount": 7}))["instance_id"])
        await asyncio.wait_for(ENTERED.wait(), 10)
    await first.app.shutdown()
    return _server(db_url, admin=True), iid


async def test_status_shows_outcome_unknown_and_the_admin_tool_answers(tmp_path: Path) -> None:
    server, iid = await _outcome_unknown_run(tmp_path)
    async with server.running(), Client(server.mcp) as client:
        for _ in range(200):
            status = _structured(await client.call_tool("pay_status", {"instance_id": iid}))
            if status["status"] == InstanceStatus.OUTCOME_UNKNOWN.value:
                break
            await asyncio.sleep(0.05)
        assert status["status"] == "outcome_unknown" and status["finished"] is False
        assert status["current_step"] == "mcp_t_charge_card (outcome unknown)"
        error = status["error"]
        assert isinstance(error, dict) and error["type"] == "outcome_unknown"
        assert "interrupted" in str(error["message"])
        began = asyncio.get_running_loop().time()
        waited = await client.call_tool("pay_result", {"instance_id": iid, "wait_seconds": 60})
        assert asyncio.get_running_loop().time() - began < 10  # at once: only a person moves it on
        assert waited.is_error and code_of(waited) == "not_finished"
        assert "outcome_unknown" in str(waited.content[0])
        bad = await client.call_tool(
            "resolve_unknown_outcome", {"instance_id": iid, "happened": False, "result": "x"}
        )
        assert bad.is_error and code_of(bad) == "invalid_input"
        answered = _structured(
            await client.call_tool(
                "resolve_unknown_outcome",
                {"instance_id": iid, "happened": True, "result": "charged 7 by hand"},
            )
        )
        assert answered["happened"] is True
        result = await client.call_tool("pay_result", {"instance_id": iid, "wait_seconds": 10})
        assert _structured(result)["result"] == "charged 7 by hand"
        again = await client.call_tool("resolve_unknown_outcome", {"instance_id": iid, "happened": True})
        assert again.is_error and code_of(again) == "conflict"
        missing = await client.call_tool("resolve_unknown_outcome", {"instance_id": "nope", "happened": True})
        assert missing.is_error and code_of(missing) == "unknown_instance"
    assert ATTEMPTS == [1]  # the charge never ran a second time
    await server.app.shutdown()


async def test_the_admin_tool_is_off_by_default(tmp_path: Path) -> None:
    server = _server(f"sqlite:///{tmp_path / 'plain.db'}", admin=False)
    async with Client(server.mcp) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert "resolve_unknown_outcome" not in names and "pay_status" in names
    admin = _server(f"sqlite:///{tmp_path / 'admin.db'}", admin=True)
    async with Client(admin.mcp) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    tool = tools["resolve_unknown_outcome"]
    assert tool.input_schema["required"] == ["instance_id", "happened"]
    assert tool.annotations is not None and tool.annotations.destructive_hint
