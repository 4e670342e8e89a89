"""The four generated tools over the in-memory SDK client: schemas, results, errors, progress, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from durable_core import InstanceStatus
from edda_mcp import EddaMCPServer
from tests.mcp import workflows as wfs
from tests.mcp.conftest import build_server
from tests.mcp.support import code_of

MODES = ["legacy", "auto"]  # handshake-era (initialize) and 2026-07-28 (stateless) clients


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def test_four_tools_with_schemas_and_annotations(db_url: str) -> None:
    server = build_server(db_url)
    async with Client(server.mcp) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {name for name in tools if name.startswith("place_order")} == {
        "place_order",
        "place_order_status",
        "place_order_result",
        "place_order_cancel",
    }
    start = tools["place_order"]
    assert start.description is not None and start.description.startswith("Place an order in three steps")
    assert start.input_schema["required"] == ["order_id"]
    assert set(start.input_schema["properties"]) == {"order_id", "total", "idempotency_key"}
    assert start.annotations is not None
    assert (start.annotations.read_only_hint, start.annotations.idempotent_hint) == (False, False)
    for name in ("place_order_status", "place_order_result"):
        ann = tools[name].annotations
        assert ann is not None and ann.read_only_hint and ann.idempotent_hint and not ann.destructive_hint
    cancel = tools["place_order_cancel"].annotations
    assert cancel is not None and cancel.destructive_hint and not cancel.read_only_hint
    # the result tool's output schema is the workflow's return type (Receipt)
    result_schema = tools["place_order_result"].output_schema
    assert result_schema is not None
    receipt = result_schema["$defs"]["Receipt"]
    assert set(receipt["properties"]) == {"order_id", "total", "steps"}
    status_schema = tools["place_order_status"].output_schema
    assert status_schema is not None
    assert {"steps_completed", "current_step", "waiting_for", "poll_interval_seconds"} <= set(
        status_schema["properties"]
    )


@pytest.mark.parametrize("mode", MODES)
async def test_start_waits_and_returns_result_with_progress_per_step(
    server_on: Callable[..., EddaMCPServer], mode: Any
) -> None:
    server = server_on()
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with Client(server.mcp, mode=mode) as client:
        result = await client.call_tool("place_order", {"order_id": "A1"}, progress_callback=on_progress)
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    assert data["status"] == "completed" and data["finished"] is True
    assert data["result"] == {
        "order_id": "A1",
        "total": 10.0,
        "steps": ["A1:reserve-done", "A1:charge-done", "A1:ship-done"],
    }
    assert [value for value, _ in seen] == [1, 2, 3]
    assert seen[-1][1] == "step 3 done: mcp_t_step"
    assert "completed" in text_of(result) and '"order_id": "A1"' in text_of(result)


async def test_running_instance_status_result_and_completion(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp) as client:
        started = await client.call_tool("gated_order", {"order_id": "B1", "gate": "b1"})
        assert not started.is_error, text_of(started)
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        assert started.structured_content["finished"] is False
        assert "gated_order_status" in text_of(started)

        # not finished: the result tool says so (isError) and how to proceed
        pending = await client.call_tool("gated_order_result", {"instance_id": iid})
        assert pending.is_error
        assert pending.structured_content is None and code_of(pending) == "not_finished"
        assert "Not finished yet" in text_of(pending) and "gated_order_status" in text_of(pending)

        status = await client.call_tool("gated_order_status", {"instance_id": iid})
        assert not status.is_error
        s = status.structured_content
        assert s is not None
        assert s["status"] in ("pending", "running") and s["finished"] is False
        assert s["poll_interval_seconds"] > 0 and s["created_at"] and s["updated_at"]

        wfs.GATES.open("b1")
        done = await client.call_tool("gated_order_result", {"instance_id": iid, "wait_seconds": 20})
        assert not done.is_error, text_of(done)
        assert done.structured_content == {
            "instance_id": iid,
            "status": "completed",
            "result": {"first": "B1:reserve-done", "second": "b1-opened", "third": "B1:ship-done"},
        }
        final = await client.call_tool("gated_order_status", {"instance_id": iid})
        assert final.structured_content is not None
        assert final.structured_content["steps_completed"] == 3
        assert final.structured_content["last_completed_step"] == "mcp_t_step"
        assert final.structured_content["current_step"] is None  # finished: nothing runs or waits
        assert final.structured_content["poll_interval_seconds"] == 0


@pytest.mark.parametrize("tool", ["place_order_status", "place_order_result", "place_order_cancel"])
async def test_unknown_instance_is_an_actionable_error(
    server_on: Callable[..., EddaMCPServer], tool: str
) -> None:
    server = server_on()
    async with Client(server.mcp) as client:
        result = await client.call_tool(tool, {"instance_id": "no-such-run"})
        assert result.is_error
        assert result.structured_content is None
        assert code_of(result) == "unknown_instance"
        assert "no-such-run" in text_of(result) and "instance_id returned by place_order" in text_of(result)
        # the server keeps serving
        assert not (await client.call_tool("place_order", {"order_id": "after"})).is_error


async def test_instance_of_another_workflow_names_the_right_tools(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    async with Client(server.mcp) as client:
        started = await client.call_tool("place_order", {"order_id": "W1"})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        wrong = await client.call_tool("failing_status", {"instance_id": iid})
    assert wrong.is_error and "mcp_t_three_steps_status" in text_of(wrong)


async def test_invalid_arguments_name_the_field_and_store_nothing(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp) as client:
        missing = await client.call_tool("place_order", {"total": 3})
        wrong_type = await client.call_tool("place_order", {"order_id": "X", "total": "lots"})
        assert await server.app.list_instances() == []
    assert missing.is_error and "order_id" in text_of(missing) and "required" in text_of(missing).lower()
    assert wrong_type.is_error and "total" in text_of(wrong_type)


async def test_idempotency_key_returns_the_same_instance(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp) as client:
        args = {"order_id": "K1", "idempotency_key": "retry-1"}
        first = await client.call_tool("place_order", args)
        second = await client.call_tool("place_order", args)
        assert first.structured_content is not None and second.structured_content is not None
        assert first.structured_content["instance_id"] == second.structured_content["instance_id"]
        assert wfs.CALLS["K1:reserve"] == 1
        conflict = await client.call_tool("place_order", {"order_id": "K2", "idempotency_key": "retry-1"})
        other = await client.call_tool("place_order", {"order_id": "K1", "idempotency_key": "retry-2"})
        assert len(await server.app.list_instances()) == 2
    assert conflict.is_error and conflict.structured_content is None
    assert code_of(conflict) == "conflict"
    assert other.structured_content is not None
    assert other.structured_content["instance_id"] != first.structured_content["instance_id"]


async def test_cancel_runs_compensations_and_result_reports_it(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    async with server.running(), Client(server.mcp) as client:
        started = await client.call_tool("gated_order", {"order_id": "C1", "gate": "c1"})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        cancelled = await client.call_tool("gated_order_cancel", {"instance_id": iid})
        assert not cancelled.is_error, text_of(cancelled)
        assert cancelled.structured_content is not None
        assert cancelled.structured_content["outcome"] == "requested"
        wfs.GATES.open("c1")  # cancellation takes effect between steps
        result = await client.call_tool("gated_order_result", {"instance_id": iid, "wait_seconds": 20})
        again = await client.call_tool("gated_order_cancel", {"instance_id": iid})
    assert result.is_error and result.structured_content is None
    assert code_of(result) == "cancelled"
    assert wfs.CALLS["refund:C1"] == 1 and wfs.CALLS["C1:ship"] == 0
    assert again.structured_content is not None
    assert again.structured_content["outcome"] == "already-finished"
    assert again.structured_content["status"] == InstanceStatus.CANCELLED.value


async def test_failed_workflow_result_is_an_error_with_the_reason(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    async with Client(server.mcp) as client:
        started = await client.call_tool("failing", {"reason": "out of stock"})
        assert started.structured_content is not None
        assert started.structured_content["status"] == "failed"
        assert started.structured_content["error"]["message"] == "cannot continue: out of stock"
        iid = started.structured_content["instance_id"]
        result = await client.call_tool("failing_result", {"instance_id": iid})
    assert result.is_error and result.structured_content is None
    assert code_of(result) == "failed"
    assert "out of stock" in text_of(result)


async def test_cancelled_request_never_cancels_the_workflow(server_on: Callable[..., EddaMCPServer]) -> None:
    server = server_on()
    server.durable_tool(wfs.mcp_t_gated_order, name="slow_order", wait_seconds=30)
    async with server.running():
        async with Client(server.mcp, mode="legacy") as client:
            with pytest.raises(Exception, match=r"[Tt]imed out|[Tt]imeout"):
                await client.call_tool(
                    "slow_order", {"order_id": "T1", "gate": "t1"}, read_timeout_seconds=0.5
                )
        [record] = await server.app.list_instances()
        assert not record.status.is_finished
        wfs.GATES.open("t1")
        result = await server.app.wait_result(record.instance_id, timeout=20)
    assert result == {"first": "T1:reserve-done", "second": "t1-opened", "third": "T1:ship-done"}


async def test_server_serves_again_after_a_client_disconnects(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = server_on()
    for order in ("AGAIN-1", "AGAIN-2"):
        async with Client(server.mcp) as client:  # each connection runs the lifespan
            result = await client.call_tool("place_order", {"order_id": order})
        assert result.structured_content is not None and result.structured_content["status"] == "completed"


async def test_status_of_a_queued_singleton_start(server_on: Callable[..., EddaMCPServer]) -> None:
    """A start queued behind a singleton key's holder reads ``queued``, with its place in line."""
    server = server_on()
    async with server.running(), Client(server.mcp) as client:
        bound = wfs.mcp_t_gated_order.with_options(app=server.app, singleton_key="acct", on_conflict="queue")
        holder = await bound.start(order_id="Q1", gate="q1")
        queued = await bound.start(order_id="Q2", gate="q2")
        status = await client.call_tool("gated_order_status", {"instance_id": queued})
        assert not status.is_error, text_of(status)
        s = status.structured_content
        assert s is not None and s["status"] == "queued" and s["finished"] is False
        line = f"queued for singleton key 'acct' behind {holder} (1st in line)"
        assert s["current_step"] == line
        assert line in text_of(status) and "now running" not in text_of(status)
        pending = await client.call_tool("gated_order_result", {"instance_id": queued})
        assert pending.is_error and code_of(pending) == "not_finished"
        wfs.GATES.open("q1")
        wfs.GATES.open("q2")
        done = await client.call_tool("gated_order_result", {"instance_id": queued, "wait_seconds": 20})
        assert not done.is_error, text_of(done)
        assert done.structured_content is not None and done.structured_content["status"] == "completed"
