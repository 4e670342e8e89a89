"""Streamable HTTP on 127.0.0.1 in both protocol eras: progress, human input and JSON-RPC id checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.types import CallToolResult, ElicitRequest, ElicitRequestParams, ElicitResult, InputRequiredResult

from tests.mcp.support import http_server, server_env

PROGRAM = "tests.mcp.programs.remote_server:server"
MODES = ["legacy", "2026-07-28"]
BOTH = "application/json, text/event-stream"


def serve_argv(db_url: str, *options: str) -> list[str]:
    return ["-m", "edda_mcp", "serve", PROGRAM, "--db", db_url, "--transport", "http", *options, "--port"]


def sse_messages(body: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an SSE response body."""
    return [
        json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:") and line[5:].strip()
    ]


def era_headers(
    mode: str, accept: str, method: str = "tools/call", name: str = "remote_steps"
) -> dict[str, str]:
    headers = {"Accept": accept, "Content-Type": "application/json"}
    if mode != "legacy":
        headers.update({"MCP-Protocol-Version": mode, "Mcp-Method": method, "Mcp-Name": name})
    return headers


def call_params(mode: str, name: str, arguments: dict[str, Any], token: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"progressToken": token}
    if mode != "legacy":
        meta["io.modelcontextprotocol/protocolVersion"] = mode
        meta["io.modelcontextprotocol/clientCapabilities"] = {}
    return {"name": name, "arguments": arguments, "_meta": meta}


@pytest.mark.parametrize("mode", MODES)
async def test_the_start_tool_streams_progress_per_step(tmp_path: Path, mode: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'progress.db'}"
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with (
        http_server(db_url, tmp_path, argv=serve_argv(db_url)) as (url, _),
        Client(url, mode=mode) as client,
    ):
        result = await client.call_tool("remote_steps", {"order_id": "P"}, progress_callback=on_progress)
    assert result.structured_content is not None, result
    assert result.structured_content["result"] == ["P:reserve", "P:charge", "P:ship"]
    assert [p for p, _ in seen] == [1, 2, 3], seen
    assert all(m is not None and m.startswith(f"step {int(p)} done") for p, m in seen), seen


@pytest.mark.parametrize("mode", MODES)
async def test_sse_for_clients_that_accept_it_and_json_for_the_others(tmp_path: Path, mode: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'accept.db'}"
    async with (
        http_server(db_url, tmp_path, argv=serve_argv(db_url)) as (url, _),
        httpx.AsyncClient(timeout=30) as http,
    ):
        body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call"}
        sse = await http.post(
            url,
            json={**body, "params": call_params(mode, "remote_steps", {"order_id": "S"}, "t1")},
            headers=era_headers(mode, BOTH),
        )
        plain = await http.post(
            url,
            json={**body, "params": call_params(mode, "remote_steps", {"order_id": "J"}, "t2")},
            headers=era_headers(mode, "application/json"),
        )
    assert sse.status_code == 200, sse.text
    assert sse.headers["content-type"].startswith("text/event-stream")
    messages = sse_messages(sse.text)
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [m["params"]["progress"] for m in progress] == [1, 2, 3]
    assert all(m["params"]["progressToken"] == "t1" for m in progress)
    assert messages[-1]["id"] == 7 and messages[-1]["result"]["structuredContent"]["status"] == "completed"
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("application/json")
    assert plain.json()["result"]["structuredContent"]["result"] == ["J:reserve", "J:charge", "J:ship"]


async def test_a_2026_client_is_asked_for_input_over_http(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'ask.db'}"
    asked: list[str] = []

    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approved": True, "approver": "ida"})

    async with (
        http_server(db_url, tmp_path, argv=serve_argv(db_url)) as (url, _),
        Client(url, mode="2026-07-28", elicitation_callback=on_elicit) as client,
    ):
        started = await client.call_tool("remote_approval", {"amount": 12})
    assert started.structured_content is not None, started
    assert started.structured_content["status"] == "completed"
    assert started.structured_content["result"] == "12.00 approved by ida"
    assert len(asked) == 1 and "needs input" in asked[0]


async def test_an_input_round_started_on_one_replica_is_answered_on_another(
    tmp_path: Path, postgres_url: str
) -> None:
    env = {**server_env(postgres_url, tmp_path), "EDDA_MCP_TEST_STATE_KEY": "k" * 32}

    async def never(context: Any, params: ElicitRequestParams) -> ElicitResult:
        raise AssertionError("the test answers the round itself")

    argv = serve_argv(postgres_url)
    async with (
        http_server(postgres_url, tmp_path, argv=argv, env=env) as (url_a, _),
        http_server(postgres_url, tmp_path, argv=argv, env=env) as (url_b, _),
        Client(url_a, mode="2026-07-28", elicitation_callback=never) as a,
        Client(url_b, mode="2026-07-28", elicitation_callback=never) as b,
    ):
        arguments = {"amount": 30}
        first = await a.session.call_tool("remote_approval", arguments, allow_input_required=True)
        assert isinstance(first, InputRequiredResult), first
        assert first.input_requests is not None and len(first.input_requests) == 1
        [(key, request)] = first.input_requests.items()
        assert isinstance(request, ElicitRequest)
        answer = ElicitResult(action="accept", content={"approved": True, "approver": "rae"})
        done = await b.session.call_tool(
            "remote_approval",
            arguments,
            input_responses={key: answer},
            request_state=first.request_state,
            allow_input_required=True,
        )
    assert isinstance(done, CallToolResult) and done.structured_content is not None, done
    assert done.structured_content["result"] == "30.00 approved by rae"


async def test_a_handshake_era_http_client_answers_with_the_respond_tool(tmp_path: Path) -> None:
    """Stateless handshake-era HTTP has no channel for server requests: the respond tool is the way."""
    db_url = f"sqlite:///{tmp_path / 'respond.db'}"
    asked: list[str] = []

    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="decline")

    async with (
        http_server(db_url, tmp_path, argv=serve_argv(db_url)) as (url, _),
        Client(url, mode="legacy", elicitation_callback=on_elicit) as client,
    ):
        started = await client.call_tool("remote_approval", {"amount": 4})
        assert started.structured_content is not None, started
        iid = started.structured_content["instance_id"]
        answer = {"approved": False, "approver": "al"}
        await client.call_tool("remote_approval_respond", {"instance_id": iid, "data": answer})
        result = await client.call_tool("remote_approval_result", {"instance_id": iid, "wait_seconds": 20})
    assert started.structured_content["status"] == "waiting"
    assert "remote_approval_respond" in started.content[0].text  # type: ignore[union-attr]
    assert asked == []
    assert (
        result.structured_content is not None and result.structured_content["result"] == "4.00 rejected by al"
    )


async def test_stateful_sessions_let_a_handshake_era_client_be_asked(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'sessions.db'}"
    asked: list[str] = []

    async def on_elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approved": True, "approver": "ola"})

    argv = serve_argv(db_url, "--stateful-sessions")
    async with (
        http_server(db_url, tmp_path, argv=argv) as (url, _),
        Client(url, mode="legacy", elicitation_callback=on_elicit) as client,
    ):
        started = await client.call_tool("remote_approval", {"amount": 6})
    assert started.structured_content is not None, started
    assert started.structured_content["result"] == "6.00 approved by ola"
    assert len(asked) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_invalid_request_ids_get_an_invalid_request_error(tmp_path: Path, mode: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'ids.db'}"
    answers: dict[str, httpx.Response] = {}
    async with (
        http_server(db_url, tmp_path, argv=serve_argv(db_url)) as (url, _),
        httpx.AsyncClient(timeout=30) as http,
    ):
        bad_ids: dict[str, Any] = {"null": None, "object": {}, "array": [1], "fraction": 1.5, "bool": True}
        for name, bad_id in bad_ids.items():
            body = {"jsonrpc": "2.0", "id": bad_id, "method": "tools/list", "params": {}}
            headers = era_headers(mode, BOTH, method="tools/list")
            answers[name] = await http.post(url, content=json.dumps(body), headers=headers)
        notification = await http.post(
            url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=era_headers(mode, BOTH),
        )
    for name, answer in answers.items():
        assert answer.status_code == 400, (name, answer.status_code, answer.text)
        error = answer.json()
        assert error["id"] is None and error["error"]["code"] == -32600, (name, error)
        assert "id must be a string or an integer" in error["error"]["message"]
    assert notification.status_code == 202  # a real notification (no id member) is still accepted
