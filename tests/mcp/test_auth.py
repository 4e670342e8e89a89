"""HTTP auth: 401 with protected-resource metadata, 403 on missing scope, instances scoped to principals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.mcp.support import code_of, http_server

ARGV = ["-m", "tests.mcp.programs.auth_server", "http"]
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@asynccontextmanager
async def client_for(url: str, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        yield client


async def test_missing_invalid_wrong_audience_and_wrong_scope(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'auth.db'}"
    async with http_server(db_url, tmp_path, argv=ARGV) as (url, _), httpx.AsyncClient() as http:
        missing = await http.post(url, json=LIST_TOOLS, headers=HEADERS)
        bad = await http.post(url, json=LIST_TOOLS, headers={**HEADERS, "Authorization": "Bearer forged"})
        audience = await http.post(
            url, json=LIST_TOOLS, headers={**HEADERS, "Authorization": "Bearer other-audience-token"}
        )
        scope = await http.post(
            url, json=LIST_TOOLS, headers={**HEADERS, "Authorization": "Bearer noscope-token"}
        )
        metadata_url = url.rsplit("/mcp", 1)[0] + "/.well-known/oauth-protected-resource/mcp"
        metadata = await http.get(metadata_url)
        ok = await http.post(url, json=LIST_TOOLS, headers={**HEADERS, "Authorization": "Bearer alice-token"})
        events_url = url.removesuffix("/mcp") + "/events/cancel/anything"
        events_anonymous = await http.post(events_url)
        events_noscope = await http.post(events_url, headers={"Authorization": "Bearer noscope-token"})
    for refused in (missing, bad, audience):
        assert refused.status_code == 401
        assert "resource_metadata=" in refused.headers["www-authenticate"]
    assert scope.status_code == 403 and "insufficient_scope" in scope.headers["www-authenticate"]
    assert metadata.status_code == 200
    assert metadata.json()["resource"] == url and metadata.json()["scopes_supported"] == ["orders"]
    assert ok.status_code == 200
    assert events_anonymous.status_code == 401 and events_noscope.status_code == 403


async def test_instances_belong_to_the_principal_that_started_them(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'owners.db'}"
    (tmp_path / "A1.go").touch()
    async with http_server(db_url, tmp_path, argv=ARGV) as (url, _):
        async with client_for(url, "alice-token") as alice:
            started = await alice.call_tool("e2e_order", {"order_id": "A1"})
            assert started.structured_content is not None, started
            iid = started.structured_content["instance_id"]
            mine = await alice.call_tool("e2e_order_result", {"instance_id": iid, "wait_seconds": 30})
            keyed = await alice.call_tool("e2e_order", {"order_id": "A1", "idempotency_key": "k"})
        async with client_for(url, "bob-token") as bob:
            theirs = [
                await bob.call_tool(f"e2e_order_{tool}", {"instance_id": iid})
                for tool in ("status", "result", "cancel")
            ]
            bob_keyed = await bob.call_tool("e2e_order", {"order_id": "A1", "idempotency_key": "k"})
            async with httpx.AsyncClient() as http:
                cancel_url = url.removesuffix("/mcp") + f"/events/cancel/{iid}"
                foreign_cancel = await http.post(cancel_url, headers={"Authorization": "Bearer bob-token"})
            resource_error = None
            try:
                await bob.read_resource(f"edda://instances/{iid}")
            except Exception as exc:  # the SDK raises MCPError for a resource error
                resource_error = str(exc)
    assert not mine.is_error and mine.structured_content is not None
    for result in theirs:  # another principal's instance looks exactly like an unknown one
        assert result.is_error and result.structured_content is None
        assert code_of(result) == "unknown_instance"
    assert resource_error is not None and "no workflow instance" in resource_error
    assert foreign_cancel.status_code == 403
    # the same idempotency key from two principals gives two different instances
    assert keyed.structured_content is not None and bob_keyed.structured_content is not None
    assert keyed.structured_content["instance_id"] != bob_keyed.structured_content["instance_id"]


async def test_compact_tools_and_runs_list_are_scoped_to_the_principal(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'compact.db'}"
    argv = ["-m", "tests.mcp.programs.auth_server", "compact"]
    async with http_server(db_url, tmp_path, argv=argv) as (url, _):
        async with client_for(url, "alice-token") as alice:
            started = [await alice.call_tool("e2e_order", {"order_id": f"A{n}"}) for n in range(2)]
            mine = [(result.structured_content or {})["instance_id"] for result in started]
            alice_list = await alice.call_tool("runs_list", {})
            alice_status = await alice.call_tool("runs_status", {"instance_id": mine[0]})
        async with client_for(url, "bob-token") as bob:
            await bob.call_tool("e2e_order", {"order_id": "B1"})
            bob_list = await bob.call_tool("runs_list", {"tool": "e2e_order"})
            theirs = [
                await bob.call_tool(f"runs_{tool}", {"instance_id": mine[0]})
                for tool in ("status", "result", "cancel")
            ]
    assert not alice_status.is_error
    assert alice_list.structured_content is not None and bob_list.structured_content is not None
    assert sorted(run["instance_id"] for run in alice_list.structured_content["runs"]) == sorted(mine)
    bob_runs = bob_list.structured_content["runs"]
    assert len(bob_runs) == 1 and bob_runs[0]["instance_id"] not in mine
    for result in theirs:  # another principal's run looks exactly like an unknown one
        assert result.is_error and result.structured_content is None
        assert code_of(result) == "unknown_instance"
