"""Human in the loop: status shows the requested input, the respond tool validates it, elicitation asks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult

from edda_mcp import EddaMCPServer
from tests.mcp import workflows as wfs


def approval_server(server_on: Callable[..., EddaMCPServer], wait_seconds: float) -> EddaMCPServer:
    server = server_on()
    server.durable_tool(wfs.mcp_t_approval, name="book", wait_seconds=wait_seconds, human_input=True)
    return server


async def test_respond_tool_validates_and_delivers_the_answer(
    server_on: Callable[..., EddaMCPServer],
) -> None:
    server = approval_server(server_on, wait_seconds=10)
    async with Client(server.mcp) as client:
        started = await client.call_tool("book", {"amount": 120})
        assert started.structured_content is not None
        assert started.structured_content["status"] == "waiting"  # returned early: it needs a human
        iid = started.structured_content["instance_id"]
        assert "book_respond" in started.content[0].text  # type: ignore[union-attr]

        status = await client.call_tool("book_status", {"instance_id": iid})
        assert status.structured_content is not None
        waiting = status.structured_content["waiting_for"]
        assert waiting["event_types"] == ["approval"]
        assert set(waiting["input_schemas"]["approval"]["properties"]) == {"approved", "approver"}

        bad = await client.call_tool("book_respond", {"instance_id": iid, "data": {"approved": "maybe"}})
        wrong_type = await client.call_tool(
            "book_respond",
            {"instance_id": iid, "data": {"approved": True, "approver": "ann"}, "event_type": "nope"},
        )
        good = await client.call_tool(
            "book_respond", {"instance_id": iid, "data": {"approved": True, "approver": "ann"}}
        )
        result = await client.call_tool("book_result", {"instance_id": iid, "wait_seconds": 20})
        late = await client.call_tool(
            "book_respond", {"instance_id": iid, "data": {"approved": False, "approver": "x"}}
        )
    assert bad.is_error
    bad_text = bad.content[0].text  # type: ignore[union-attr]
    assert "approved" in bad_text and "approver" in bad_text and "is a required property" in bad_text
    assert wrong_type.is_error and "does not wait for 'nope'" in wrong_type.content[0].text  # type: ignore[union-attr]
    assert not good.is_error and good.structured_content is not None
    assert good.structured_content["event_type"] == "approval"
    assert result.structured_content is not None
    assert result.structured_content["result"] == "120.00 approved by ann"
    assert late.is_error and "not waiting for input" in late.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_elicitation_asks_the_user_and_returns_the_result(
    server_on: Callable[..., EddaMCPServer], mode: str
) -> None:
    """Handshake era: an elicitation/create request mid-call; 2026-07-28: an input_required round."""
    server = approval_server(server_on, wait_seconds=20)
    asked: list[dict[str, Any]] = []

    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.model_dump(by_alias=True))
        return ElicitResult(action="accept", content={"approved": False, "approver": "bo"})

    async with Client(server.mcp, mode=mode, elicitation_callback=on_elicit) as client:
        started = await client.call_tool("book", {"amount": 7})
        instances = await server.app.list_instances()
    assert started.structured_content is not None, started
    assert started.structured_content["status"] == "completed"
    assert started.structured_content["result"] == "7.00 rejected by bo"
    [request] = asked
    assert "needs input" in request["message"]
    assert set(request["requestedSchema"]["properties"]) == {"approved", "approver"}
    assert len(instances) == 1  # the retry continued the run, it did not start another


@pytest.mark.parametrize("answer", ["decline", "invalid"])
async def test_a_declined_or_invalid_input_round_leaves_the_respond_tool(
    server_on: Callable[..., EddaMCPServer], answer: str
) -> None:
    server = approval_server(server_on, wait_seconds=20)
    asked: list[str] = []

    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        if answer == "decline":
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content={"approved": "perhaps"})

    async with Client(server.mcp, mode="2026-07-28", elicitation_callback=on_elicit) as client:
        started = await client.call_tool("book", {"amount": 3})
        assert started.structured_content is not None, started
        iid = started.structured_content["instance_id"]
        status = await client.call_tool("book_status", {"instance_id": iid})
    assert len(asked) == 1  # asked once, not again in a loop
    assert started.structured_content["status"] == "waiting"
    assert "book_respond" in started.content[0].text  # type: ignore[union-attr]
    assert status.structured_content is not None
    assert status.structured_content["waiting_for"]["event_types"] == ["approval"]


async def test_result_tool_asks_a_2026_client_for_the_input(server_on: Callable[..., EddaMCPServer]) -> None:
    server = approval_server(server_on, wait_seconds=0)

    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"approved": True, "approver": "cy"})

    async with Client(server.mcp, mode="2026-07-28", elicitation_callback=on_elicit) as client:
        started = await client.call_tool("book", {"amount": 5})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]
        result = await client.call_tool("book_result", {"instance_id": iid, "wait_seconds": 20})
    assert result.structured_content is not None, result
    assert result.structured_content["result"] == "5.00 approved by cy"
