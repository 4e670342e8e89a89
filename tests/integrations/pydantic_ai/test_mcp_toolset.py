"""An MCPToolset in a durable agent: ``list_tools`` and ``call_tool`` are activities, replayed after a wait."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp.client.transports import StdioTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.models.test import TestModel

from durable_core import (
    Catalog,
    EddaApp,
    InstanceStatus,
    RetryPolicy,
    StepKind,
    SystemClock,
    WorkflowContext,
    wait_event,
    workflow,
)
from durable_pydantic_ai import ActivityConfig, EddaDurability
from tests.crash.support import wait_until

SERVER = Path(__file__).with_name("mcp_tools_server.py")
CATALOG = Catalog()


def build_agent(log: Path) -> Agent[None, str]:
    transport = StdioTransport(sys.executable, [str(SERVER)], env={"PAI_MCP_LOG": str(log)})
    toolset = MCPToolset(transport, id="shouter")
    # A timeout on MCP activities: connecting to a stdio server on a loaded machine can hang; the
    # attempt is then cut off and retried (connecting happens inside the activity).
    mcp: ActivityConfig = {
        "timeout": 20.0,
        "retry_policy": RetryPolicy(max_attempts=4, initial_interval=0.1, jitter=0),
    }
    durability: EddaDurability[None] = EddaDurability(mcp_activity=mcp)
    return Agent(TestModel(), name="mcp_agent", toolsets=[toolset], capabilities=[durability])


AGENTS: dict[str, Agent[None, str]] = {}


@workflow(catalog=CATALOG)
async def shout_then_wait(ctx: WorkflowContext, key: str) -> str:
    """Run the agent (it calls ``shout``), then wait so that the resume replays the run."""
    result = await AGENTS[key].run("shout")
    await wait_event(ctx, "go")
    return result.output


@pytest.fixture
def catalog() -> Catalog:
    return CATALOG


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the MCP side is what is tested
async def test_mcp_list_and_call_are_activities(make_app: Any, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    AGENTS["k"] = build_agent(log)
    app: EddaApp = await make_app(clock=SystemClock())  # real time for the retry back-off
    iid = await app.start("shout_then_wait", {"key": "k"})

    async def settled() -> bool:
        return (await app.get_instance(iid)).status in (InstanceStatus.WAITING, InstanceStatus.FAILED)

    snapshot: list[str] = []

    async def remember() -> bool:
        record = await app.get_instance(iid)
        snapshot[:] = [record.status.value, *(f"{e.name}:{e.outcome}" for e in await app.get_history(iid))]
        return await settled()

    await wait_until(remember, "the agent run waits", timeout=60, explain=lambda: repr(snapshot))
    record = await app.get_instance(iid)
    history = [(e.name, e.outcome, e.error) for e in await app.get_history(iid)]
    assert record.status is InstanceStatus.WAITING, (record, history)
    assert log.read_text().splitlines() == ["shout a"]
    await app.send_event("go", "test", {}, instance_id=iid)
    output = await app.wait_result(iid, timeout=30)
    assert '"A"' in output or "A" in output
    assert log.read_text().splitlines() == ["shout a"]  # replay did not call the server again
    names = [e.name for e in await app.get_history(iid) if e.kind is StepKind.ACTIVITY]
    assert names == [
        "mcp_agent__mcp_server__shouter.get_tools",
        "mcp_agent__model.request",
        "mcp_agent__mcp_server__shouter.call_tool",
        "mcp_agent__model.request",
    ]
