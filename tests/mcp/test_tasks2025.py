"""The 2025-11-25 experimental tasks form, spoken by the TypeScript SDK 1.32.2's experimental tasks client.

Real server processes (``tests/mcp/programs/tasks2025_server.py``) over stdio and streamable HTTP:
capability and ``execution.taskSupport``, ``params.task`` answered with a durable task, ``tasks/get``,
``tasks/result`` (blocking, asking for input through elicitation tied to the task), ``tasks/list``,
``tasks/cancel``, ``notifications/tasks/status``; a restart (a new server process on the same database)
and a second replica serving a task the first one created.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mcp.support import REPO_ROOT, http_server, server_env
from tests.mcp.ts_clients import TS_DIR, node_client

TARGET = "tests.mcp.programs.tasks2025_server:server"
CLIENT = TS_DIR / "tasks2025_client.mjs"
RELATED_TASK = "io.modelcontextprotocol/related-task"
IMMEDIATE = "io.modelcontextprotocol/model-immediate-response"
PROTOCOL = "2025-11-25"
AUTH_ARGV = ["-m", "tests.mcp.programs.auth_server", "http"]
pytestmark = pytest.mark.timeout(240)


class TaskClient:
    """A running ``tasks2025_client.mjs``: one connected TypeScript SDK client."""

    def __init__(self, proc: asyncio.subprocess.Process, ready: Mapping[str, Any]) -> None:
        self._proc = proc
        self._next_id = 0
        self.ready = ready

    async def send(self, timeout: float = 60.0, **request: Any) -> dict[str, Any]:
        """One request; its ``{"ok": ..., "result"|"error": ...}`` answer."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._next_id += 1
        self._proc.stdin.write((json.dumps({**request, "id": self._next_id}) + "\n").encode())
        await self._proc.stdin.drain()
        line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        assert line, "the TypeScript client exited before answering"
        answer: dict[str, Any] = json.loads(line)
        assert answer["id"] == self._next_id
        return answer

    async def ok(self, timeout: float = 60.0, **request: Any) -> dict[str, Any]:
        """The result of a request that must succeed."""
        answer = await self.send(timeout, **request)
        assert answer["ok"], (request, answer)
        result: dict[str, Any] = answer["result"]
        return result

    async def status_becomes(self, task_id: str, wanted: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll ``tasks/get`` until the task has status ``wanted``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            task = await self.ok(op="get", taskId=task_id)
            if task["status"] == wanted or loop.time() > deadline:
                assert task["status"] == wanted, task
                return task
            await asyncio.sleep(max(task.get("pollInterval", 100), 50) / 1000)


@asynccontextmanager
async def task_client(connection: Mapping[str, Any], log: Path) -> AsyncIterator[TaskClient]:
    """Connect ``tasks2025_client.mjs`` (skips when node or tests/ts/node_modules is missing)."""
    async with node_client(CLIENT, connection, log) as (proc, ready):
        yield TaskClient(proc, ready)


def stdio(db_url: str, workdir: Path, **extra: Any) -> dict[str, Any]:
    argv = ["-m", "edda_mcp", "serve", TARGET, "--db", db_url]
    return {
        "command": sys.executable,
        "args": argv,
        "env": server_env(db_url, workdir),
        "cwd": str(REPO_ROOT),
        **extra,
    }


def http_argv(db_url: str, *options: str) -> list[str]:
    return ["-m", "edda_mcp", "serve", TARGET, "--db", db_url, "--transport", "http", *options, "--port"]


async def test_stdio_tasks_survive_a_restart(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'tasks.db'}"
    log = tmp_path / "client.log"
    async with task_client(stdio(db_url, tmp_path), log) as client:
        assert client.ready["serverTasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        assert sorted(client.ready["taskTools"]) == ["create_cluster", "doomed", "double"]

        created = await client.ok(op="create", tool="create_cluster", arguments={"name": "db1"})
        task_id = created["task"]["taskId"]
        assert created["task"]["status"] in ("working", "input_required") and created["task"]["ttl"] is None
        assert task_id in created["_meta"][IMMEDIATE]
        waiting = await client.status_becomes(task_id, "input_required")
        assert "create_cluster_respond" in waiting["statusMessage"]

        plain = await client.ok(op="call", tool="double", arguments={"n": 4})
        assert "task" not in plain and plain["structuredContent"]["instance_id"]  # no params.task: no task

        streamed = await client.ok(op="stream", tool="double", arguments={"n": 21})
        assert streamed["messages"][0] == "taskCreated" and streamed["messages"][-1] == "result", streamed
        assert streamed["result"]["structuredContent"]["result"] == 42

        doomed = (await client.ok(op="create", tool="doomed", arguments={"why": "no quota"}))["task"][
            "taskId"
        ]
        failed = await client.status_becomes(doomed, "failed")
        assert "no quota" in failed["statusMessage"]
        failed_result = await client.ok(op="result", taskId=doomed)
        assert failed_result["isError"] is True and failed_result["_meta"][RELATED_TASK] == {"taskId": doomed}

        listed = await client.ok(op="list")
        assert {task_id, doomed} <= {t["taskId"] for t in listed["tasks"]}
        wrong = await client.send(op="create", tool="double_status", arguments={"instance_id": doomed})
        assert not wrong["ok"] and wrong["error"]["code"] == -32601

    # A new server process on the same database: the task is still there and can be finished.
    async with task_client(stdio(db_url, tmp_path, elicit={"region": "eu"}), log) as client:
        assert (await client.ok(op="get", taskId=task_id))["status"] == "input_required"
        result = await client.ok(op="result", taskId=task_id)
        assert result["structuredContent"]["result"] == "db1.eu.example.net", result
        assert result["_meta"][RELATED_TASK] == {"taskId": task_id}
        seen = await client.ok(op="seen")
        assert [e["meta"][RELATED_TASK] for e in seen["elicitations"]] == [{"taskId": task_id}]
        assert seen["statuses"][0] == "input_required" and seen["statuses"][-1] == "completed", seen
        assert (await client.ok(op="get", taskId=task_id))["status"] == "completed"

        other = (await client.ok(op="create", tool="create_cluster", arguments={"name": "db2"}))["task"][
            "taskId"
        ]
        cancelled = await client.ok(op="cancel", taskId=other)
        assert cancelled["status"] == "cancelled"
        again = await client.send(op="cancel", taskId=other)
        assert (
            not again["ok"] and again["error"]["code"] == -32602 and "terminal" in again["error"]["message"]
        )
        assert (await client.ok(op="result", taskId=other))["isError"] is True
        missing = await client.send(op="get", taskId="no-such-task")
        assert not missing["ok"] and missing["error"]["code"] == -32602


async def test_a_second_replica_serves_the_task(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "client.log"
    async with (
        http_server(db_url, tmp_path, argv=http_argv(db_url)) as (first, _),
        # elicitation to a handshake-era client over HTTP needs a session on the replica it talks to
        http_server(db_url, tmp_path, argv=http_argv(db_url, "--stateful-sessions")) as (second, _),
    ):
        async with task_client({"url": first}, log) as client:
            created = await client.ok(op="create", tool="create_cluster", arguments={"name": "db3"})
            task_id = created["task"]["taskId"]
            await client.status_becomes(task_id, "input_required")
        async with task_client({"url": second, "elicit": {"region": "us"}}, log) as client:
            await client.status_becomes(task_id, "input_required")
            result = await client.ok(op="result", taskId=task_id)
            assert result["structuredContent"]["result"] == "db3.us.example.net", result
            assert task_id in {t["taskId"] for t in (await client.ok(op="list"))["tasks"]}


async def rpc(
    http: httpx.AsyncClient,
    url: str,
    method: str,
    params: dict[str, Any],
    token: str,
    version: str = PROTOCOL,
) -> dict[str, Any]:
    """One raw JSON-RPC request over streamable HTTP; its response message (SSE or JSON)."""
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": version,
        "Authorization": f"Bearer {token}",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = await http.post(url, json=body, headers=headers, timeout=30)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
        return next(m for m in messages if m.get("id") == 1)
    answer: dict[str, Any] = response.json()
    return answer


async def test_tasks_belong_to_the_principal_and_need_params_task(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'owners.db'}"
    async with http_server(db_url, tmp_path, argv=AUTH_ARGV) as (url, _), httpx.AsyncClient() as http:
        for version, declared in ((PROTOCOL, True), ("2025-06-18", False)):
            hello = {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            }
            init = await rpc(http, url, "initialize", hello, "alice-token", version=version)
            assert ("tasks" in init["result"]["capabilities"]) is declared, init
        listed_tools = await rpc(http, url, "tools/list", {}, "alice-token")
        support = {t["name"]: t.get("execution") for t in listed_tools["result"]["tools"]}
        assert support["e2e_order"] == {"taskSupport": "optional"} and support["e2e_order_status"] is None
        older = await rpc(http, url, "tools/list", {}, "alice-token", version="2025-06-18")
        assert all("execution" not in t for t in older["result"]["tools"])

        task = {"name": "e2e_order", "arguments": {"order_id": "T1"}, "task": {"ttl": 1000}}
        created = await rpc(http, url, "tools/call", task, "alice-token")
        task_id = created["result"]["task"]["taskId"]
        not_asked = await rpc(http, url, "tools/call", task, "alice-token", version="2025-06-18")
        assert "task" not in not_asked["result"] and not_asked["result"]["structuredContent"]["instance_id"]

        alice = await rpc(http, url, "tasks/list", {}, "alice-token")
        plain_id = not_asked["result"]["structuredContent"]["instance_id"]
        # every run of a durable tool is reachable as a task (newest first), and only by its principal
        assert [t["taskId"] for t in alice["result"]["tasks"]] == [plain_id, task_id]
        bob = await rpc(http, url, "tasks/list", {}, "bob-token")
        assert bob["result"]["tasks"] == []
        for method in ("tasks/get", "tasks/cancel", "tasks/result"):
            foreign = await rpc(http, url, method, {"taskId": task_id}, "bob-token")
            assert foreign["error"]["code"] == -32602, (method, foreign)
        bad_cursor = await rpc(http, url, "tasks/list", {"cursor": "not-ours"}, "alice-token")
        assert bad_cursor["error"]["code"] == -32602
        missing_id = await rpc(http, url, "tasks/get", {}, "alice-token")
        assert missing_id["error"]["code"] == -32602 and "taskId" in missing_id["error"]["message"]
        cancelled = await rpc(http, url, "tasks/cancel", {"taskId": task_id}, "alice-token")
        assert cancelled["result"]["status"] == "cancelled"


async def test_a_task_survives_sigkill_of_its_server(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'killed.db'}"
    log = tmp_path / "client.log"
    async with http_server(db_url, tmp_path, argv=http_argv(db_url)) as (url, proc):
        async with task_client({"url": url}, log) as client:
            created = await client.ok(op="create", tool="create_cluster", arguments={"name": "db4"})
            task_id = created["task"]["taskId"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    restarted = http_server(db_url, tmp_path, argv=http_argv(db_url, "--stateful-sessions"))
    async with restarted as (url, _), task_client({"url": url, "elicit": {"region": "ap"}}, log) as client:
        await client.status_becomes(task_id, "input_required")
        result = await client.ok(op="result", taskId=task_id)
        assert result["structuredContent"]["result"] == "db4.ap.example.net", result
