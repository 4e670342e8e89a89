"""Instance resources (with update events), prompts that read instance state, and plain tools."""

from __future__ import annotations

import json
from collections.abc import Callable

import anyio
import pytest
from mcp import Client, MCPError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.types import TextContent, TextResourceContents

from edda_mcp import EddaMCPServer, history_uri, instance_uri
from tests.mcp import workflows as wfs


async def test_instance_and_history_resources(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with Client(server.mcp) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert {"edda://instances/{instance_id}", "edda://instances/{instance_id}/history"} <= templates
        started = await client.call_tool("place_order", {"order_id": "R1"})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        status = await client.read_resource(instance_uri(iid))
        history = await client.read_resource(history_uri(iid))
        with pytest.raises(MCPError, match="no workflow instance"):
            await client.read_resource(instance_uri("missing"))
    [status_contents] = status.contents
    assert isinstance(status_contents, TextResourceContents)
    assert json.loads(status_contents.text)["status"] == "completed"
    [history_contents] = history.contents
    assert isinstance(history_contents, TextResourceContents)
    steps = json.loads(history_contents.text)
    assert [(s["position"], s["name"], s["result"]) for s in steps] == [
        (0, "mcp_t_step", "R1:reserve-done"),
        (1, "mcp_t_step", "R1:charge-done"),
        (2, "mcp_t_step", "R1:ship-done"),
    ]


async def test_resource_update_events_on_status_change(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp) as client:
        started = await client.call_tool("gated_order", {"order_id": "U1", "gate": "u1"})
        assert started.structured_content is not None
        uri = instance_uri(started.structured_content["instance_id"])
        async with client.listen(resource_subscriptions=[uri]) as sub:
            wfs.GATES.open("u1")
            with anyio.fail_after(20):
                async for event in sub:
                    assert getattr(event, "uri", None) == uri
                    break


async def test_prompt_reads_instance_state_and_plain_tool(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()

    @server.prompt(description="Analyze a workflow execution")
    async def analyze_workflow(instance_id: str) -> UserMessage:
        instance = await server.storage.get_instance(instance_id)
        history = await server.storage.get_history(instance_id)
        text = f"Status: {instance.status.value}; activities: {len(history)}"
        return UserMessage(content=TextContent(type="text", text=text))

    @server.tool(description="Add two numbers")
    def add(a: int, b: int) -> int:
        return a + b

    async with Client(server.mcp) as client:
        started = await client.call_tool("place_order", {"order_id": "P1"})
        assert started.structured_content is not None
        prompt = await client.get_prompt(
            "analyze_workflow", {"instance_id": started.structured_content["instance_id"]}
        )
        added = await client.call_tool("add", {"a": 2, "b": 3})
    [message] = prompt.messages
    assert isinstance(message.content, TextContent)
    assert message.content.text == "Status: completed; activities: 3"
    assert added.structured_content == {"result": 5}
