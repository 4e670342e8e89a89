"""Stream chunks reach MCP clients as ``notifications/progress`` (with the chunk in ``message``) and as
the ``edda://instances/{id}/streams/{name}`` resource: Python SDK client in memory and over real HTTP,
and the TypeScript SDK client over real HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp import Client

from tests.mcp.programs import stream_server
from tests.mcp.support import http_server
from tests.mcp.ts_clients import sdk_session

TOKENS = ["Once", " upon", " a", " time", ",", " the", " end."]
STORY = "".join(TOKENS)
ARGV = ["-m", "edda_mcp", "serve", "tests.mcp.programs.stream_server:server", "--transport", "http"]


def _chunks(seen: list[tuple[float, str | None]]) -> list[str]:
    return [m for _, m in seen if m is not None and not m.startswith("step ")]


def _check_progress(seen: list[tuple[float, str | None]]) -> None:
    values = [p for p, _ in seen]
    assert values == sorted(set(values)), f"progress must increase: {seen}"
    assert _chunks(seen) == TOKENS, seen  # every chunk once, in order (step reports interleave freely)
    assert [m for _, m in seen if m is not None and m.startswith("step ")] == [
        "step 1 done: speak",
        "step 2 done: speak",
    ]


def _check_resource(text: str) -> None:
    content = json.loads(text)
    assert content["text"] == STORY and content["finished"] is True
    assert [c["text"] for c in content["chunks"]] == TOKENS
    assert {c["status"] for c in content["chunks"]} == {"committed"}
    assert [(c["position"], c["attempt"]) for c in content["chunks"][3:5]] == [(0, 1), (1, 1)]


async def test_python_client_in_memory_gets_chunks_as_progress(tmp_path: Path) -> None:
    server = stream_server.build(f"sqlite:///{tmp_path / 'memory.db'}")
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with Client(server.mcp) as client:
        result = await client.call_tool("tell_story", {}, progress_callback=on_progress)
        assert result.structured_content is not None, result
        assert result.structured_content["result"] == STORY
        iid = result.structured_content["instance_id"]
        resource = await client.read_resource(f"edda://instances/{iid}/streams/tokens")
    await server.app.shutdown()
    _check_progress(seen)
    _check_resource(resource.contents[0].text)  # type: ignore[union-attr]


async def test_python_and_typescript_clients_over_http(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'streams.db'}"
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with http_server(db_url, tmp_path, argv=[*ARGV, "--db", db_url, "--port"]) as (url, _):
        async with Client(url) as client:
            result = await client.call_tool("tell_story", {}, progress_callback=on_progress)
            assert result.structured_content is not None and result.structured_content["result"] == STORY
        _check_progress(seen)
        async with sdk_session({"url": url}, tmp_path / "ts.log") as ts:
            answer = await ts.request({"tool": "tell_story", "arguments": {}, "progress": True})
            assert answer.ok and not answer.is_error, answer
            progress: list[dict[str, Any]] = answer.result["progress"]
            _check_progress([(p["progress"], p.get("message")) for p in progress])
            iid = answer.result["structuredContent"]["instance_id"]
            read = await ts.request(
                {"method": "resources/read", "uri": f"edda://instances/{iid}/streams/tokens"}
            )
            assert read.ok, read
            _check_resource(read.result["contents"][0]["text"])
