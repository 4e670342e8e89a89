"""Real host clients (TypeScript SDK 1.32.2, MCP Inspector CLI 2.12) accept every durable tool result.

Hosts built on the TypeScript SDK validate ``structuredContent`` against the tool's ``outputSchema``
even on ``isError`` results and raise ``-32602`` on a mismatch; the Inspector fails the call. These
tests call every tool of every durable tool of ``tests/mcp/programs/host_matrix.py`` in every success
and error case, over a real stdio subprocess and real streamable HTTP on 127.0.0.1, and assert that
the client accepted each result and that the model would read the actionable text.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.support import REPO_ROOT, http_server, server_env
from tests.mcp.ts_clients import (
    SCHEMA_MISMATCH,
    InspectorRun,
    SdkAnswer,
    SdkSession,
    inspector,
    require_ts_clients,
    sdk_session,
)

TARGET = "tests.mcp.programs.host_matrix:server"
pytestmark = pytest.mark.timeout(300)


def serve_argv(db_url: str, *extra: str) -> list[str]:
    return ["-m", "edda_mcp", "serve", TARGET, "--db", db_url, *extra]


def stdio_connection(db_url: str, workdir: Path) -> dict[str, Any]:
    return {
        "command": sys.executable,
        "args": serve_argv(db_url),
        "env": server_env(db_url, workdir),
        "cwd": str(REPO_ROOT),
    }


class Checked:
    """Calls tools through the TypeScript client and checks that it accepted every result."""

    def __init__(self, session: SdkSession) -> None:
        self.session = session
        self.seen: list[str] = []

    async def ok(self, tool: str, arguments: dict[str, Any], *, expect: str = "") -> dict[str, Any]:
        """A result that is not an error; returns its structured content."""
        answer = await self._accepted(tool, arguments)
        assert not answer.is_error, (tool, answer.text)
        assert expect in answer.text, (tool, expect, answer.text)
        structured = answer.result.get("structuredContent")
        assert isinstance(structured, dict), (tool, answer.result)
        return structured

    async def error(self, tool: str, arguments: dict[str, Any], *, expect: str) -> SdkAnswer:
        """An ``isError`` result the client accepted, whose text (what the model reads) says ``expect``."""
        answer = await self._accepted(tool, arguments)
        assert answer.is_error, (tool, answer.result)
        assert expect in answer.text, (tool, expect, answer.text)
        return answer

    async def _accepted(self, tool: str, arguments: dict[str, Any]) -> SdkAnswer:
        answer = await self.session.call(tool, arguments)
        assert answer.ok, f"the TypeScript SDK rejected the result of {tool}: {answer.error_message}"
        assert answer.error_code != SCHEMA_MISMATCH
        self.seen.append(tool)
        return answer

    async def status_until(self, tool: str, instance_id: str, wanted: str) -> dict[str, Any]:
        """Poll ``<tool>_status`` (bounded) until the run reaches ``wanted``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            status = await self.ok(f"{tool}_status", {"instance_id": instance_id})
            if status["status"] == wanted:
                return status
            assert loop.time() < deadline, f"{tool} {instance_id} never became {wanted}: {status}"
            await asyncio.sleep(0.05)


async def exercise_every_result(c: Checked) -> None:
    """Every tool of every durable tool, in each success and error case it has."""
    await _quick_and_typed(c)
    await _human_input(c)
    await _failed_and_cancelled(c)
    await _blocked(c)
    for tool in ("quick_status", "quick_result", "quick_cancel", "approval_respond"):
        arguments: dict[str, Any] = {"instance_id": "no-such-run"}
        if tool == "approval_respond":
            arguments["data"] = {"approved": True, "approver": "x"}
        await c.error(tool, arguments, expect="no-such-run")
    assert set(c.session.tools) <= set(c.seen), set(c.session.tools) - set(c.seen)


async def _quick_and_typed(c: Checked) -> None:
    done = await c.ok("quick", {"order_id": "Q1"}, expect="completed")
    iid = done["instance_id"]
    assert done["result"] == {"order_id": "Q1", "first": "Q1:a-done", "count": "1"}
    await c.ok("quick_status", {"instance_id": iid}, expect="completed")
    assert (await c.ok("quick_result", {"instance_id": iid}))["result"]["first"] == "Q1:a-done"
    gone = await c.ok("quick_cancel", {"instance_id": iid}, expect="Nothing to cancel")
    assert gone["outcome"] == "already-finished"
    await c.ok("quick", {"order_id": "Q2", "idempotency_key": "k-1"})
    await c.error("quick", {"order_id": "Q3", "idempotency_key": "k-1"}, expect="already used")
    await c.error("quick", {"order_id": 5}, expect="order_id")
    await c.error("quick", {"order_id": "Q4", "count": "many"}, expect="count")
    await c.error("quick", {"order_id": "x" * 300_000}, expect="too large")
    quote = await c.ok("typed", {"sku": "S1"}, expect="completed")
    assert quote["result"] == {"sku": "S1", "price": 9.5, "tags": ["new"]}
    assert (await c.ok("typed_result", {"instance_id": quote["instance_id"]}))["result"]["sku"] == "S1"
    await c.ok("typed_status", {"instance_id": quote["instance_id"]})
    await c.ok("typed_cancel", {"instance_id": quote["instance_id"]})


async def _human_input(c: Checked) -> None:
    started = await c.ok("approval", {"amount": 12.5}, expect="approval_status")
    iid = started["instance_id"]
    await c.status_until("approval", iid, "waiting")
    await c.error("approval_result", {"instance_id": iid}, expect="Not finished yet")
    await c.error("quick_status", {"instance_id": iid}, expect="not 'quick'")
    await c.error(
        "approval_respond", {"instance_id": iid, "data": {"approved": "maybe"}}, expect="invalid answer"
    )
    await c.error(
        "approval_respond",
        {"instance_id": iid, "data": {"approved": True, "approver": "a"}, "event_type": "other"},
        expect="does not wait for 'other'",
    )
    answered = await c.ok(
        "approval_respond", {"instance_id": iid, "data": {"approved": True, "approver": "ada"}}
    )
    assert answered["event_type"] == "approval"
    result = await c.ok("approval_result", {"instance_id": iid, "wait_seconds": 30})
    assert result["result"] == "12.50 approved by ada"
    await c.error(
        "approval_respond",
        {"instance_id": iid, "data": {"approved": True, "approver": "ada"}},
        expect="not waiting for input",
    )
    await c.ok("approval_cancel", {"instance_id": iid}, expect="Nothing to cancel")


async def _failed_and_cancelled(c: Checked) -> None:
    failed = await c.ok("failing", {"reason": "out of stock"}, expect="failed")
    assert failed["status"] == "failed" and "out of stock" in failed["error"]["message"]
    await c.ok("failing_status", {"instance_id": failed["instance_id"]}, expect="out of stock")
    await c.error("failing_result", {"instance_id": failed["instance_id"]}, expect="failed: ")
    await c.ok("failing_cancel", {"instance_id": failed["instance_id"]}, expect="Nothing to cancel")
    parked = await c.ok("pending", {"order_id": "P1"})
    iid = parked["instance_id"]
    await c.error("pending_result", {"instance_id": iid}, expect="Not finished yet")
    requested = await c.ok("pending_cancel", {"instance_id": iid}, expect="Cancellation")
    assert requested["outcome"] in ("requested", "already-finished")
    await c.error("pending_result", {"instance_id": iid, "wait_seconds": 30}, expect="was cancelled")
    await c.ok("pending_status", {"instance_id": iid}, expect="cancelled")


async def _blocked(c: Checked) -> None:
    started = await c.ok("diverging", {"order_id": "D1"})
    iid = started["instance_id"]
    await c.status_until("diverging", iid, "waiting")
    await c.ok("diverging_respond", {"instance_id": iid, "data": {"go": True}})
    blocked = await c.status_until("diverging", iid, "blocked")
    assert blocked["error"] is not None
    await c.error("diverging_result", {"instance_id": iid}, expect="is blocked")
    await c.ok("diverging_cancel", {"instance_id": iid})


async def test_ts_sdk_accepts_every_result_over_stdio(tmp_path: Path) -> None:
    require_ts_clients()
    db_url = f"sqlite:///{tmp_path / 'stdio.db'}"
    async with sdk_session(stdio_connection(db_url, tmp_path), tmp_path / "node.log") as session:
        await exercise_every_result(Checked(session))


async def test_ts_sdk_accepts_every_result_over_http(db_url: str, tmp_path: Path) -> None:
    require_ts_clients()
    async with (
        http_server(db_url, tmp_path, argv=[*serve_argv(db_url), "--transport", "http", "--port"]) as (
            url,
            _,
        ),
        sdk_session({"url": url}, tmp_path / "node.log") as session,
    ):
        await exercise_every_result(Checked(session))


def tool_call(tool: str, **arguments: str) -> list[str]:
    """Inspector arguments of one ``tools/call`` (``key=value`` pairs)."""
    pairs = [f"{key}={value}" for key, value in arguments.items()]
    return ["--method", "tools/call", "--tool-name", tool, *(["--tool-arg", *pairs] if pairs else [])]


def accepted(run: InspectorRun, *, is_error: bool, expect: str) -> dict[str, Any]:
    """The Inspector validated the result (exit 0, or 5 for an ``isError`` result) and printed ``expect``."""
    assert run.returncode == (5 if is_error else 0), (run.returncode, run.stdout, run.stderr)
    assert "output schema" not in run.stdout + run.stderr, run.stderr
    result = dict(run.payload["result"])
    assert bool(result.get("isError")) is is_error, result
    text = "\n".join(block.get("text", "") for block in result["content"])
    assert expect in text, (expect, text)
    return result


async def test_inspector_cli_lists_and_calls_over_stdio(tmp_path: Path) -> None:
    require_ts_clients()
    db_url = f"sqlite:///{tmp_path / 'inspector.db'}"
    server = ["-e", f"EDDA_MCP_DB_URL={db_url}", "--", sys.executable, *serve_argv(db_url)]
    home = tmp_path / "home"
    listed = await inspector(["--strict", "--method", "tools/list", *server], home)
    assert listed.returncode == 0, listed.stderr
    names = {tool["name"] for tool in listed.payload["result"]["tools"]}
    assert {"quick", "quick_status", "quick_result", "quick_cancel", "approval_respond"} <= names
    done = accepted(
        await inspector([*tool_call("quick", order_id="I1"), *server], home), is_error=False, expect=""
    )
    assert done["structuredContent"]["status"] == "completed"
    iid = done["structuredContent"]["instance_id"]
    accepted(
        await inspector([*tool_call("quick_result", instance_id=iid), *server], home),
        is_error=False,
        expect="",
    )
    unknown = await inspector([*tool_call("quick_status", instance_id="no-such-run"), *server], home)
    accepted(unknown, is_error=True, expect="no-such-run")


async def test_inspector_cli_over_http_in_both_protocol_eras(tmp_path: Path) -> None:
    require_ts_clients()
    db_url = f"sqlite:///{tmp_path / 'inspector.db'}"
    home = tmp_path / "home"
    async with http_server(db_url, tmp_path, argv=[*serve_argv(db_url), "--transport", "http", "--port"]) as (
        url,
        _,
    ):
        legacy = ["--server-url", url]
        listed = await inspector(["--strict", "--method", "tools/list", *legacy], home)
        assert listed.returncode == 0, listed.stderr
        started = accepted(
            await inspector([*tool_call("approval", amount="2"), *legacy], home), is_error=False, expect=""
        )
        iid = started["structuredContent"]["instance_id"]
        pending = await inspector([*tool_call("approval_result", instance_id=iid), *legacy], home)
        accepted(pending, is_error=True, expect="Not finished yet")
        accepted(
            await inspector([*tool_call("approval_status", instance_id=iid), *legacy], home),
            is_error=False,
            expect=iid,
        )
        # 2026-07-28 era: the Inspector declares the tasks extension, so durable starts become tasks whose
        # final result (completed, or the failed run's error) must match the start tool's schema too
        modern = ["--protocol-era", "modern", "--server-url", url]
        quote = accepted(
            await inspector([*tool_call("typed", sku="M1"), *modern], home), is_error=False, expect=""
        )
        assert quote["structuredContent"]["result"] == {"sku": "M1", "price": 9.5, "tags": ["new"]}
        failed = await inspector([*tool_call("failing", reason="no stock"), *modern], home)
        accepted(failed, is_error=True, expect="no stock")
