"""The compact tool style over the in-memory SDK client: shared runs_* tools for every durable tool."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from durable_core import FakeClock, WorkflowContext, workflow
from durable_core.clock import Clock
from edda_mcp import EddaMCPServer, ToolDefinitionError, ToolStyle, run_list
from edda_mcp.access import new_instance_id, principal_of
from edda_mcp.run_list import RunQuery, decode_cursor, list_runs
from tests.mcp import workflows as wfs
from tests.mcp.support import code_of

SHARED = {"runs_status", "runs_result", "runs_cancel", "runs_list"}


@workflow
async def mcp_t_not_a_tool(ctx: WorkflowContext, order_id: str) -> str:
    """A workflow the server runs but does not expose as a tool."""
    return order_id


def compact_server(db_url: str, *, human_input: bool = False, clock: Clock | None = None) -> EddaMCPServer:
    options: dict[str, Any] = {"clock": clock} if clock is not None else {}
    server = EddaMCPServer(
        "edda-compact",
        db_url=db_url,
        tool_style="compact",
        poll_interval=0.05,
        shutdown_timeout=0.5,
        workflows=[mcp_t_not_a_tool],
        **options,
    )
    server.durable_tool(wfs.mcp_t_three_steps, name="place_order")
    server.durable_tool(wfs.mcp_t_gated_order, name="gated_order", wait_seconds=0)
    server.durable_tool(wfs.mcp_t_failing, name="failing")
    if human_input:
        server.durable_tool(wfs.mcp_t_approval, name="approval", wait_seconds=10, human_input=True)
    return server


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def test_one_start_tool_per_durable_tool_plus_shared_ones(db_url: str) -> None:
    server = compact_server(db_url)
    async with Client(server.mcp) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"place_order", "gated_order", "failing"} | SHARED
    assert server.tool_style is ToolStyle.COMPACT
    start = tools["gated_order"].description or ""
    assert "runs_status" in start and "runs_result" in start and "gated_order_status" not in start
    for name in ("runs_status", "runs_result", "runs_list"):
        ann = tools[name].annotations
        assert ann is not None and ann.read_only_hint and ann.idempotent_hint
    cancel = tools["runs_cancel"].annotations
    assert cancel is not None and cancel.destructive_hint
    listing = tools["runs_list"].input_schema["properties"]
    assert set(listing) == {"tool", "status", "created_after", "created_before", "limit", "cursor"}
    with_input = compact_server(db_url, human_input=True)
    async with Client(with_input.mcp) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert "runs_respond" in names and not any(n.startswith("approval_") for n in names)


async def test_shared_tools_answer_for_every_durable_tool(db_url: str) -> None:
    server = compact_server(db_url)
    async with Client(server.mcp) as client:
        done = data(await client.call_tool("place_order", {"order_id": "C1"}))
        receipt = data(await client.call_tool("runs_result", {"instance_id": done["instance_id"]}))
        assert receipt["result"]["steps"] == ["C1:reserve-done", "C1:charge-done", "C1:ship-done"]
        status = data(await client.call_tool("runs_status", {"instance_id": done["instance_id"]}))
        assert (status["workflow"], status["status"], status["steps_completed"]) == (
            "mcp_t_three_steps",
            "completed",
            3,
        )
        started = await client.call_tool("gated_order", {"order_id": "C2", "gate": "c2"})
        assert "runs_status" in text_of(started)
        gated = data(started)["instance_id"]
        not_yet = await client.call_tool("runs_result", {"instance_id": gated})
        assert code_of(not_yet) == "not_finished" and "runs_result again" in text_of(not_yet)
        cancelled = data(await client.call_tool("runs_cancel", {"instance_id": gated}))
        assert cancelled["outcome"] == "requested"
        wfs.GATES.open("c2")
        gone = await client.call_tool("runs_result", {"instance_id": gated, "wait_seconds": 30})
        assert code_of(gone) == "cancelled"
        failed = data(await client.call_tool("failing", {"reason": "no stock"}))
        failure = await client.call_tool("runs_result", {"instance_id": failed["instance_id"]})
        assert code_of(failure) == "failed" and "no stock" in text_of(failure)
        for tool in ("runs_status", "runs_result", "runs_cancel"):
            unknown = await client.call_tool(tool, {"instance_id": "no-such-run"})
            assert code_of(unknown) == "unknown_instance" and "runs_list" in text_of(unknown)
            assert unknown.structured_content is None
        # a run of a workflow the server serves but does not expose is not a run of its tools
        hidden = await server.app.start(mcp_t_not_a_tool, {"order_id": "H"})
        assert code_of(await client.call_tool("runs_status", {"instance_id": hidden})) == "unknown_instance"


async def test_runs_respond_answers_any_human_input_tool(db_url: str) -> None:
    server = compact_server(db_url, human_input=True)
    async with Client(server.mcp) as client:
        started = data(await client.call_tool("approval", {"amount": 7.0}))
        assert started["status"] == "waiting"  # returned early: it needs a human
        iid = started["instance_id"]
        waiting = data(await client.call_tool("runs_status", {"instance_id": iid}))
        assert waiting["waiting_for"]["event_types"] == ["approval"]
        bad = await client.call_tool("runs_respond", {"instance_id": iid, "data": {"approved": "maybe"}})
        assert code_of(bad) == "invalid_input"
        answer = {"approved": True, "approver": "ada"}
        assert data(await client.call_tool("runs_respond", {"instance_id": iid, "data": answer}))[
            "event_type"
        ]
        result = data(await client.call_tool("runs_result", {"instance_id": iid, "wait_seconds": 30}))
        assert result["result"] == "7.00 approved by ada"
        other = data(await client.call_tool("place_order", {"order_id": "R1"}))["instance_id"]
        refused = await client.call_tool("runs_respond", {"instance_id": other, "data": answer})
        assert code_of(refused) == "invalid_input" and "takes no human input" in text_of(refused)


async def test_runs_list_filters_and_pages_through_every_run(db_url: str) -> None:
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    server = compact_server(db_url, clock=clock)
    async with Client(server.mcp) as client:
        started: list[str] = []
        for n in range(5):
            clock.advance(60)
            started.append(data(await client.call_tool("place_order", {"order_id": f"L{n}"}))["instance_id"])
        clock.advance(60)
        failed = data(await client.call_tool("failing", {"reason": "x"}))["instance_id"]
        await server.app.start(mcp_t_not_a_tool, {"order_id": "hidden"})
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(10):
            arguments: dict[str, Any] = {"tool": "place_order", "limit": 2}
            if cursor:
                arguments["cursor"] = cursor
            page = data(await client.call_tool("runs_list", arguments))
            seen += page["runs"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [run["instance_id"] for run in seen] == started[::-1]  # newest first, none twice
        assert {run["tool"] for run in seen} == {"place_order"}
        everything = data(await client.call_tool("runs_list", {}))["runs"]
        assert [run["instance_id"] for run in everything] == [failed, *started[::-1]]  # not the hidden run
        only_failed = data(await client.call_tool("runs_list", {"status": ["failed"]}))["runs"]
        assert [run["instance_id"] for run in only_failed] == [failed]
        window = {"created_after": "2030-01-01T00:02:00Z", "created_before": "2030-01-01T00:04:00Z"}
        between = data(await client.call_tool("runs_list", window))["runs"]
        assert [run["instance_id"] for run in between] == [started[2], started[1]]
        bad_cursor = await client.call_tool("runs_list", {"cursor": "not-a-cursor"})
        assert code_of(bad_cursor) == "invalid_input" and "cursor" in text_of(bad_cursor)
        bad_tool = await client.call_tool("runs_list", {"tool": "nope"})
        assert code_of(bad_tool) == "invalid_input" and "place_order" in text_of(bad_tool)
        bad_status = await client.call_tool("runs_list", {"status": ["sleeping"]})
        assert bad_status.is_error and "status" in text_of(bad_status)


async def test_runs_list_shows_only_the_callers_runs(db_url: str) -> None:
    server = compact_server(db_url)
    alice, bob = principal_of("alice", None, None), principal_of("bob", None, None)
    async with server.running():
        app = server.app
        mine = [
            await app.start(wfs.mcp_t_three_steps, {"order_id": f"A{n}"}, instance_id=new_instance_id(alice))
            for n in range(3)
        ]
        theirs = await app.start(wfs.mcp_t_three_steps, {"order_id": "B"}, instance_id=new_instance_id(bob))
        query = RunQuery(
            workflows={"mcp_t_three_steps": "place_order"},
            statuses=frozenset(),
            created_after=None,
            created_before=None,
            limit=10,
            cursor=None,
        )
        listed = await list_runs(app, query, alice)
        everyone = await list_runs(app, query, None)  # no auth: every run
    assert sorted(run.instance_id for run in listed.runs) == sorted(mine) and listed.next_cursor is None
    assert {run.instance_id for run in everyone.runs} == {*mine, theirs}


def test_tool_style_is_checked_and_shared_names_are_reserved(tmp_path: Any) -> None:
    with pytest.raises(ToolDefinitionError, match="tool_style must be one of 'full', 'compact'"):
        EddaMCPServer("x", db_url=f"sqlite:///{tmp_path / 'x.db'}", tool_style="tiny")
    server = EddaMCPServer("x", db_url=f"sqlite:///{tmp_path / 'x.db'}", tool_style=ToolStyle.COMPACT)
    with pytest.raises(ToolDefinitionError, match="'runs_list' is a shared tool"):
        server.durable_tool(wfs.mcp_t_failing, name="runs_list")


async def test_a_bounded_scan_returns_a_cursor_to_continue_from(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_list, "MAX_SCANNED", 3)  # one call examines at most three stored runs
    monkeypatch.setattr(run_list, "PAGE_SIZE", 2)
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    server = compact_server(db_url, clock=clock)
    async with server.running():
        app = server.app
        wanted = await app.start(wfs.mcp_t_three_steps, {"order_id": "old"})
        for n in range(4):  # newer runs of a workflow that is not listed
            clock.advance(60)
            await app.start(mcp_t_not_a_tool, {"order_id": f"n{n}"})
        query = RunQuery(
            workflows={"mcp_t_three_steps": "place_order", "mcp_t_failing": "failing"},
            statuses=frozenset(),
            created_after=None,
            created_before=None,
            limit=10,
            cursor=None,
        )
        first = await list_runs(app, query, None)
        assert first.runs == [] and first.next_cursor is not None  # stopped after three, not at the end
        second = await list_runs(app, replace(query, cursor=decode_cursor(first.next_cursor)), None)
    assert [run.instance_id for run in second.runs] == [wanted] and second.next_cursor is None
