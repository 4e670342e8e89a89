"""Real uvicorn servers on 127.0.0.1 driven over streamable HTTP: tools, restart, replicas, limits."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from mcp import Client

from tests.mcp.support import cli_http_argv, code_of, http_server, steps_log, wait_until


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_http_start_status_result_across_a_restart(tmp_path: Path, mode: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'http.db'}"
    async with http_server(db_url, tmp_path) as (url, proc):
        async with Client(url, mode=mode) as client:
            started = await client.call_tool("e2e_order", {"order_id": "H1"})
            assert started.structured_content is not None, started
            iid = started.structured_content["instance_id"]

            async def reserved() -> bool:
                status = await client.call_tool("e2e_order_status", {"instance_id": iid})
                assert status.structured_content is not None
                return bool(status.structured_content["steps_completed"] >= 1)

            await wait_until(reserved, "the first step")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (tmp_path / "H1.go").touch()
    async with http_server(db_url, tmp_path) as (url, _), Client(url, mode=mode) as client:
        result = await client.call_tool("e2e_order_result", {"instance_id": iid, "wait_seconds": 30})
    assert result.structured_content is not None, result
    assert result.structured_content["result"] == {"steps": ["H1:reserve", "H1:go", "H1:ship"]}
    assert steps_log(tmp_path) == ["H1:reserve", "H1:ship"]


async def test_two_replicas_on_one_postgresql(tmp_path: Path, postgres_url: str) -> None:
    async with (
        http_server(postgres_url, tmp_path) as (url_a, _),
        http_server(postgres_url, tmp_path) as (url_b, _),
        Client(url_a) as a,
        Client(url_b) as b,
    ):
        started = await a.call_tool("e2e_order", {"order_id": "P1"})
        assert started.structured_content is not None, started
        iid = started.structured_content["instance_id"]

        async def reserved() -> bool:
            status = await b.call_tool("e2e_order_status", {"instance_id": iid})
            assert status.structured_content is not None
            return bool(status.structured_content["steps_completed"] >= 1)

        await wait_until(reserved, "replica B to see the first step")
        (tmp_path / "P1.go").touch()
        result = await b.call_tool("e2e_order_result", {"instance_id": iid, "wait_seconds": 30})
        again = await a.call_tool("e2e_order_result", {"instance_id": iid})
    assert result.structured_content is not None, result
    assert result.structured_content["result"] == {"steps": ["P1:reserve", "P1:go", "P1:ship"]}
    assert again.structured_content == result.structured_content
    assert steps_log(tmp_path) == ["P1:reserve", "P1:ship"]


async def test_cancel_on_another_replica_stops_a_running_instance(tmp_path: Path, postgres_url: str) -> None:
    async with (
        http_server(postgres_url, tmp_path) as (url_a, _),
        http_server(postgres_url, tmp_path) as (url_b, _),
        Client(url_a) as a,
        Client(url_b) as b,
    ):
        started = await a.call_tool("e2e_order", {"order_id": "P2"})
        assert started.structured_content is not None
        iid = started.structured_content["instance_id"]

        async def reserved() -> bool:
            return steps_log(tmp_path) == ["P2:reserve"]

        await wait_until(reserved, "the first step")
        cancelled = await b.call_tool("e2e_order_cancel", {"instance_id": iid})
        assert cancelled.structured_content is not None
        assert cancelled.structured_content["outcome"] == "requested"
        (tmp_path / "P2.go").touch()
        result = await b.call_tool("e2e_order_result", {"instance_id": iid, "wait_seconds": 30})
    assert result.is_error and result.structured_content is None
    assert code_of(result) == "cancelled"
    assert "P2:ship" not in steps_log(tmp_path)


async def test_http_refuses_foreign_hosts_and_oversized_bodies(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'limits.db'}"
    async with http_server(db_url, tmp_path) as (url, _):
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with httpx.AsyncClient() as http:
            foreign = await http.post(url, json=ping, headers={**headers, "Host": "evil.example"})
            origin = await http.post(url, json=ping, headers={**headers, "Origin": "http://evil.example"})
            huge = await http.post(
                url,
                content=b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"'
                + b"x" * 2_000_000
                + b'"}}',
                headers=headers,
            )
            garbage = await http.post(url, content=b"{not json", headers=headers)
        async with Client(url) as client:  # still serving
            assert {t.name for t in (await client.list_tools()).tools} >= {"e2e_order"}
    assert foreign.status_code == 421 or foreign.status_code == 400
    assert origin.status_code == 403
    assert huge.status_code == 413
    assert garbage.status_code == 400


async def test_cloudevents_endpoint_delivers_events_and_cancels(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'events.db'}"
    argv = cli_http_argv(db_url, "--allow-unauthenticated-events")
    async with http_server(db_url, tmp_path, argv=argv) as (url, _), Client(url) as client:
        first = await client.call_tool("e2e_wait_go", {"order_id": "E1"})
        second = await client.call_tool("e2e_wait_go", {"order_id": "E2"})
        assert first.structured_content is not None and second.structured_content is not None
        go_id = first.structured_content["instance_id"]
        cancel_id = second.structured_content["instance_id"]
        events = url.removesuffix("/mcp") + "/events"
        async with httpx.AsyncClient() as http:
            delivered = await http.post(
                events,
                json={"say": "hello"},
                headers={
                    "ce-specversion": "1.0",
                    "ce-type": "go",
                    "ce-source": "tests",
                    "ce-id": "evt-1",
                    "ce-eddainstanceid": go_id,
                },
            )
            cancelled = await http.post(f"{events}/cancel/{cancel_id}")
        result = await client.call_tool("e2e_wait_go_result", {"instance_id": go_id, "wait_seconds": 20})
        gone = await client.call_tool("e2e_wait_go_result", {"instance_id": cancel_id, "wait_seconds": 20})
    assert delivered.status_code in (200, 202), delivered.text
    assert cancelled.status_code in (200, 202), cancelled.text
    assert result.structured_content is not None
    assert result.structured_content["result"] == {"order_id": "E1", "said": "hello"}
    assert gone.structured_content is None and code_of(gone) == "cancelled"
