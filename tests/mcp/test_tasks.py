"""The io.modelcontextprotocol/tasks extension: durable tool calls answered with tasks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.client import advertise

from edda_mcp import EddaMCPServer
from edda_mcp.task_client import TasksClient, cancel_task
from edda_mcp.task_models import CreateTaskResult, GetTaskRequest, TaskIdParams, TaskResult
from tests.mcp import workflows as wfs
from tests.mcp.conftest import build_server

MODERN = "2026-07-28"


async def test_task_is_the_instance_and_resolves_to_the_result(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    created: list[str] = []
    tasks = TasksClient(max_poll_seconds=0.05, on_created=created.append)
    async with server.running(), Client(server.mcp, mode=MODERN, extensions=[tasks]) as client:
        result = await client.call_tool("place_order", {"order_id": "TK1"})
        [record] = await server.app.list_instances()
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["status"] == "completed"
    assert result.structured_content["result"]["steps"] == [
        "TK1:reserve-done",
        "TK1:charge-done",
        "TK1:ship-done",
    ]
    assert created == [record.instance_id] and len(record.instance_id) >= 32


async def test_clients_without_the_extension_never_get_a_task(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    async with Client(
        server.mcp, mode="legacy", extensions=[advertise("io.modelcontextprotocol/tasks")]
    ) as legacy:
        handshake = await legacy.call_tool("place_order", {"order_id": "TK2"})
    async with Client(server.mcp, mode=MODERN) as modern:
        plain = await modern.call_tool("place_order", {"order_id": "TK3"})
    for result in (handshake, plain):
        assert result.structured_content is not None and result.structured_content["status"] == "completed"


async def test_input_required_is_answered_through_tasks_update(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    server.durable_tool(wfs.mcp_t_approval, name="book", human_input=True)
    asked: list[tuple[str, dict[str, Any]]] = []

    async def answer(key: str, params: dict[str, Any]) -> dict[str, Any] | None:
        asked.append((key, params))
        if len(asked) == 1:
            return {"approved": "not a bool"}  # refused by the server: the task stays input_required
        return {"approved": True, "approver": "kim"}

    tasks = TasksClient(answer, max_poll_seconds=0.05)
    async with Client(server.mcp, mode=MODERN, extensions=[tasks]) as client:
        with pytest.raises(MCPError, match="approved"):
            await client.call_tool("book", {"amount": 5})
        [record] = await server.storage.list_instances()
        # a second resolution of the same task answers correctly (keys are per wait position)
        result = await TasksClient(answer, max_poll_seconds=0.05).follow(client.session, record.instance_id)
    assert result.structured_content is not None
    assert result.structured_content["result"] == "5.00 approved by kim"
    key, params = asked[0]
    assert key.startswith("approval@") and params["mode"] == "form"
    assert set(params["requestedSchema"]["properties"]) == {"approved", "approver"}


async def test_unknown_task_and_cancel(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    created: list[str] = []
    async with server.running(), Client(server.mcp, mode=MODERN, extensions=[TasksClient()]) as client:
        with pytest.raises(MCPError, match="Task not found") as unknown:
            await client.session.send_request(GetTaskRequest(params=TaskIdParams(task_id="nope")), TaskResult)
        assert unknown.value.error.code == -32602
        session = client.session
        result = await session.call_tool("gated_order", {"order_id": "TC", "gate": "tc"}, allow_claimed=True)
        assert isinstance(result, CreateTaskResult)
        task_id = result.task_id
        created.append(task_id)
        await cancel_task(session, task_id)
        wfs.GATES.open("tc")
        final = await TasksClient(max_poll_seconds=0.05).follow(client.session, task_id)
    assert final.is_error and "cancelled" in final.content[0].text  # type: ignore[union-attr]
    assert wfs.CALLS["refund:TC"] == 1


async def test_tasks_survive_a_server_restart(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'tasks.db'}"
    first = build_server(db_url)
    async with Client(first.mcp, mode=MODERN, extensions=[TasksClient()]) as client:
        created = await client.session.call_tool(
            "gated_order", {"order_id": "TR", "gate": "tr"}, allow_claimed=True
        )
        assert isinstance(created, CreateTaskResult)
        task_id = created.task_id
    # the first server's engine is stopped; a new server on the same database serves the task
    wfs.GATES.open("tr")
    second = build_server(db_url)
    async with Client(second.mcp, mode=MODERN, extensions=[TasksClient()]) as client:
        final = await TasksClient(max_poll_seconds=0.05).follow(client.session, task_id)
    assert final.structured_content is not None
    assert final.structured_content["result"]["third"] == "TR:ship-done"
