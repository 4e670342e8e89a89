"""Real host clients (TypeScript SDK 1.32.2, MCP Inspector CLI 2.12) accept every durable tool result.

Hosts built on the TypeScript SDK validate ``structuredContent`` against the tool's ``outputSchema``
even on ``isError`` results and raise ``-32602`` on a mismatch; the Inspector fails the call. These
tests call every tool of every durable tool of ``tests/mcp/programs/host_matrix.py`` in every success
and error case, over a real stdio subprocess and real streamable HTTP on 127.0.0.1, and assert that
the client accepted each result and that the model would read the actionable text. Each test runs in
both tool styles: ``full`` (``<tool>_status``...) and ``compact`` (the shared ``runs_*`` tools, served
by ``tests/mcp/programs/host_matrix_compact.py``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edda_mcp import ToolStyle
from edda_mcp.control_tools import CONTROL_TOOL_NAMES
from edda_mcp.results import ERROR_META_KEY
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

TARGETS = {
    ToolStyle.FULL: "tests.mcp.programs.host_matrix:server",
    ToolStyle.COMPACT: "tests.mcp.programs.host_matrix_compact:server",
}
pytestmark = pytest.mark.timeout(300)
styles = pytest.mark.parametrize("style", list(ToolStyle))


def serve_argv(db_url: str, *extra: str, style: ToolStyle = ToolStyle.FULL) -> list[str]:
    return ["-m", "edda_mcp", "serve", TARGETS[style], "--db", db_url, *extra]


def tool_name(style: ToolStyle, tool: str, kind: str) -> str:
    """The tool that does ``kind`` (status, result, cancel, respond) for ``tool``'s runs in ``style``."""
    return f"runs_{kind}" if style is ToolStyle.COMPACT else f"{tool}_{kind}"


def stdio_connection(db_url: str, workdir: Path, style: ToolStyle = ToolStyle.FULL) -> dict[str, Any]:
    return {
        "command": sys.executable,
        "args": serve_argv(db_url, style=style),
        "env": server_env(db_url, workdir),
        "cwd": str(REPO_ROOT),
    }


class Checked:
    """Calls tools through the TypeScript client and checks that it accepted every result."""

    def __init__(self, session: SdkSession, style: ToolStyle = ToolStyle.FULL) -> None:
        self.session = session
        self.style = style
        self.seen: list[str] = []

    def name(self, tool: str, kind: str) -> str:
        """The tool that does ``kind`` for ``tool``'s runs in this session's style."""
        return tool_name(self.style, tool, kind)

    async def ok(self, tool: str, arguments: dict[str, Any], *, expect: str = "") -> dict[str, Any]:
        """A result that is not an error; returns its structured content."""
        answer = await self._accepted(tool, arguments)
        assert not answer.is_error, (tool, answer.text)
        assert expect in answer.text, (tool, expect, answer.text)
        structured = answer.result.get("structuredContent")
        assert isinstance(structured, dict), (tool, answer.result)
        return structured

    async def error(self, tool: str, arguments: dict[str, Any], *, expect: str, code: str = "") -> SdkAnswer:
        """An ``isError`` result the client accepted, whose text (what the model reads) says ``expect``.

        With ``code``: the machine-readable code in ``_meta["edda/error"]`` is that one.
        """
        answer = await self._accepted(tool, arguments)
        assert answer.is_error, (tool, answer.result)
        assert expect in answer.text, (tool, expect, answer.text)
        if code:
            assert "structuredContent" not in answer.result, (tool, answer.result)
            assert answer.result["_meta"][ERROR_META_KEY]["error"] == code, (tool, answer.result)
        return answer

    async def _accepted(self, tool: str, arguments: dict[str, Any]) -> SdkAnswer:
        answer = await self.session.call(tool, arguments)
        assert answer.ok, f"the TypeScript SDK rejected the result of {tool}: {answer.error_message}"
        assert answer.error_code != SCHEMA_MISMATCH
        self.seen.append(tool)
        return answer

    async def status_until(self, tool: str, instance_id: str, wanted: str) -> dict[str, Any]:
        """Poll ``<tool>_status`` / ``runs_status`` (bounded) until the run reaches ``wanted``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            status = await self.ok(self.name(tool, "status"), {"instance_id": instance_id})
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
    if c.style is ToolStyle.COMPACT:
        await _run_list(c)
    await _run_control(c)
    names = [c.name("quick", kind) for kind in ("status", "result", "cancel")]
    for tool in [*names, c.name("approval", "respond"), *CONTROL_TOOL_NAMES]:
        arguments: dict[str, Any] = {"instance_id": "no-such-run"}
        if tool.endswith("_respond"):
            arguments["data"] = {"approved": True, "approver": "x"}
        if tool.endswith("_fork"):
            arguments["at"] = 0
        await c.error(tool, arguments, expect="no-such-run", code="unknown_instance")
    assert set(c.session.tools) <= set(c.seen), set(c.session.tools) - set(c.seen)


async def _quick_and_typed(c: Checked) -> None:
    done = await c.ok("quick", {"order_id": "Q1"}, expect="completed")
    iid = done["instance_id"]
    assert done["result"] == {"order_id": "Q1", "first": "Q1:a-done", "count": "1"}
    await c.ok(c.name("quick", "status"), {"instance_id": iid}, expect="completed")
    assert (await c.ok(c.name("quick", "result"), {"instance_id": iid}))["result"]["first"] == "Q1:a-done"
    gone = await c.ok(c.name("quick", "cancel"), {"instance_id": iid}, expect="Nothing to cancel")
    assert gone["outcome"] == "already-finished"
    await c.ok("quick", {"order_id": "Q2", "idempotency_key": "k-1"})
    await c.error("quick", {"order_id": "Q3", "idempotency_key": "k-1"}, expect="already used")
    await c.error("quick", {"order_id": 5}, expect="order_id")
    await c.error("quick", {"order_id": "Q4", "count": "many"}, expect="count")
    await c.error("quick", {"order_id": "x" * 300_000}, expect="too large")
    quote = await c.ok("typed", {"sku": "S1"}, expect="completed")
    assert quote["result"] == {"sku": "S1", "price": 9.5, "tags": ["new"]}
    typed_result = await c.ok(c.name("typed", "result"), {"instance_id": quote["instance_id"]})
    assert typed_result["result"]["sku"] == "S1"
    await c.ok(c.name("typed", "status"), {"instance_id": quote["instance_id"]})
    await c.ok(c.name("typed", "cancel"), {"instance_id": quote["instance_id"]})


async def _human_input(c: Checked) -> None:
    respond = c.name("approval", "respond")
    started = await c.ok("approval", {"amount": 12.5}, expect=c.name("approval", "status"))
    iid = started["instance_id"]
    await c.status_until("approval", iid, "waiting")
    await c.error(c.name("approval", "result"), {"instance_id": iid}, expect="Not finished yet")
    if c.style is ToolStyle.FULL:  # the shared tools serve every tool's runs: no wrong tool to call
        await c.error("quick_status", {"instance_id": iid}, expect="not 'quick'")
    await c.error(respond, {"instance_id": iid, "data": {"approved": "maybe"}}, expect="invalid answer")
    await c.error(
        respond,
        {"instance_id": iid, "data": {"approved": True, "approver": "a"}, "event_type": "other"},
        expect="does not wait for 'other'",
    )
    answered = await c.ok(respond, {"instance_id": iid, "data": {"approved": True, "approver": "ada"}})
    assert answered["event_type"] == "approval"
    result = await c.ok(c.name("approval", "result"), {"instance_id": iid, "wait_seconds": 30})
    assert result["result"] == "12.50 approved by ada"
    await c.error(
        respond,
        {"instance_id": iid, "data": {"approved": True, "approver": "ada"}},
        expect="not waiting for input",
    )
    await c.ok(c.name("approval", "cancel"), {"instance_id": iid}, expect="Nothing to cancel")


async def _failed_and_cancelled(c: Checked) -> None:
    failed = await c.ok("failing", {"reason": "out of stock"}, expect="failed")
    assert failed["status"] == "failed" and "out of stock" in failed["error"]["message"]
    failed_id = {"instance_id": failed["instance_id"]}
    await c.ok(c.name("failing", "status"), failed_id, expect="out of stock")
    await c.error(c.name("failing", "result"), failed_id, expect="failed: ")
    await c.ok(c.name("failing", "cancel"), failed_id, expect="Nothing to cancel")
    if c.style is ToolStyle.COMPACT:  # runs_respond is shared, but a failing run takes no input
        answer = {**failed_id, "data": {"approved": True, "approver": "x"}}
        await c.error("runs_respond", answer, expect="takes no human input")
    parked = await c.ok("pending", {"order_id": "P1"})
    iid = parked["instance_id"]
    await c.error(c.name("pending", "result"), {"instance_id": iid}, expect="Not finished yet")
    requested = await c.ok(c.name("pending", "cancel"), {"instance_id": iid}, expect="Cancellation")
    assert requested["outcome"] in ("requested", "already-finished")
    cancelled = {"instance_id": iid, "wait_seconds": 30}
    await c.error(c.name("pending", "result"), cancelled, expect="was cancelled")
    await c.ok(c.name("pending", "status"), {"instance_id": iid}, expect="cancelled")


async def _blocked(c: Checked) -> None:
    started = await c.ok("diverging", {"order_id": "D1"})
    iid = started["instance_id"]
    await c.status_until("diverging", iid, "waiting")
    await c.ok(c.name("diverging", "respond"), {"instance_id": iid, "data": {"go": True}})
    blocked = await c.status_until("diverging", iid, "blocked")
    assert blocked["error"] is not None
    await c.error(c.name("diverging", "result"), {"instance_id": iid}, expect="is blocked")
    await c.ok(c.name("diverging", "cancel"), {"instance_id": iid})


async def _run_control(c: Checked) -> None:
    """The opt-in admin tools (``run_control_tools=True``): each applied, repeated and refused."""
    parked = (await c.ok("pending", {"order_id": "RC1"}))["instance_id"]
    await c.status_until("pending", parked, "waiting")
    paused = await c.ok("runs_pause", {"instance_id": parked, "reason": "look first"}, expect="pause")
    assert (paused["action"], paused["outcome"], paused["status"]) == ("pause", "applied", "paused")
    assert (await c.ok("runs_pause", {"instance_id": parked}))["outcome"] == "already-applied"
    unpaused = await c.ok("runs_unpause", {"instance_id": parked})
    # it goes on where it stopped: waiting again, or briefly pending/running while a worker resumes it
    assert unpaused["outcome"] == "applied" and unpaused["status"] in ("waiting", "pending", "running")
    await c.status_until("pending", parked, "waiting")
    ended = await c.ok("runs_terminate", {"instance_id": parked, "reason": "wedged"})
    assert (ended["outcome"], ended["status"]) == ("applied", "failed")
    assert (await c.ok("runs_terminate", {"instance_id": parked}))["outcome"] == "already-applied"
    await c.error("runs_pause", {"instance_id": parked}, expect="Nothing was changed", code="conflict")
    failed = (await c.ok("failing", {"reason": "flaky"}, expect="failed"))["instance_id"]
    retried = await c.ok("runs_retry", {"instance_id": failed, "reason": "fixed"})
    assert (retried["action"], retried["outcome"]) == ("retry", "applied")
    done = (await c.ok("quick", {"order_id": "RC2"}, expect="completed"))["instance_id"]
    await c.error("runs_retry", {"instance_id": done}, expect="Nothing was changed", code="conflict")
    assert (await c.ok("runs_unpause", {"instance_id": done}))["outcome"] == "already-applied"  # not paused
    fork = await c.ok("runs_fork", {"instance_id": done, "at": "hm_step", "new_instance_id": "rc-fork"})
    assert (fork["action"], fork["instance_id"], fork["forked_from"]) == ("fork", "rc-fork", done)
    for at in (99, "no_such_step"):  # the history has no such position or step
        await c.error(
            "runs_fork", {"instance_id": done, "at": at}, expect="Nothing was changed", code="conflict"
        )


async def _run_list(c: Checked) -> None:
    """Compact style: ``runs_list`` pages, filters and refuses bad filters, all accepted by the client."""
    first = await c.ok("runs_list", {"limit": 2})
    assert len(first["runs"]) == 2 and first["next_cursor"]
    older = await c.ok("runs_list", {"limit": 2, "cursor": first["next_cursor"]})
    assert not {r["instance_id"] for r in first["runs"]} & {r["instance_id"] for r in older["runs"]}
    quick = await c.ok("runs_list", {"tool": "quick", "status": ["completed"]}, expect="(quick) completed")
    assert quick["runs"] and {r["tool"] for r in quick["runs"]} == {"quick"}
    waiting = await c.ok("runs_list", {"status": ["waiting"], "created_after": "2000-01-01T00:00:00Z"})
    assert all(r["status"] == "waiting" for r in waiting["runs"])
    await c.error("runs_list", {"cursor": "not-a-cursor"}, expect="not returned by runs_list")
    await c.error("runs_list", {"tool": "no_such_tool"}, expect="No durable tool is named")


@styles
async def test_ts_sdk_accepts_every_result_over_stdio(tmp_path: Path, style: ToolStyle) -> None:
    require_ts_clients()
    db_url = f"sqlite:///{tmp_path / 'stdio.db'}"
    async with sdk_session(stdio_connection(db_url, tmp_path, style), tmp_path / "node.log") as session:
        await exercise_every_result(Checked(session, style))


@styles
async def test_ts_sdk_accepts_every_result_over_http(db_url: str, tmp_path: Path, style: ToolStyle) -> None:
    require_ts_clients()
    argv = [*serve_argv(db_url, style=style), "--transport", "http", "--port"]
    async with (
        http_server(db_url, tmp_path, argv=argv) as (url, _),
        sdk_session({"url": url}, tmp_path / "node.log") as session,
    ):
        await exercise_every_result(Checked(session, style))


def tool_call(tool: str, /, **arguments: str) -> list[str]:
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


def refused(run: InspectorRun, *, expect: str, code: str) -> None:
    """The Inspector accepted an ``isError`` result without structured content, coded in ``_meta``."""
    result = accepted(run, is_error=True, expect=expect)
    assert "structuredContent" not in result, result
    assert result["_meta"][ERROR_META_KEY]["error"] == code, result


Call = Callable[..., Awaitable[InspectorRun]]


async def inspector_run_control(call: Call, start: Call, tag: str, *, every_unknown: bool = True) -> None:
    """Every run-control admin tool through the Inspector CLI, applied and refused.

    ``call(tool, **arguments)`` runs one ``tools/call`` of an admin tool, ``start`` one of a durable
    start tool (in the handshake era: in the 2026-07-28 era a start becomes a task the Inspector waits
    for, and ``pending`` never ends). Each tool is refused once (``conflict`` or ``unknown_instance``);
    with ``every_unknown``, each is also called for an unknown run.
    """

    def out(run: InspectorRun) -> dict[str, Any]:
        return dict(accepted(run, is_error=False, expect="")["structuredContent"])

    changed = "Nothing was changed"
    parked = out(await start("pending", order_id=f"{tag}-1"))["instance_id"]
    assert out(await call("runs_pause", instance_id=parked))["status"] == "paused"
    assert out(await call("runs_unpause", instance_id=parked))["outcome"] == "applied"
    assert out(await call("runs_terminate", instance_id=parked, reason="wedged"))["status"] == "failed"
    refused(await call("runs_pause", instance_id=parked), expect=changed, code="conflict")
    failed = out(await start("failing", reason="flaky"))["instance_id"]
    assert out(await call("runs_retry", instance_id=failed))["outcome"] == "applied"
    done = out(await start("quick", order_id=f"{tag}-2"))["instance_id"]
    refused(await call("runs_retry", instance_id=done), expect=changed, code="conflict")
    fork = out(await call("runs_fork", instance_id=done, at="hm_step", new_instance_id=f"{tag}-fork"))
    assert (fork["instance_id"], fork["forked_from"]) == (f"{tag}-fork", done)
    refused(await call("runs_fork", instance_id=done, at="99"), expect=changed, code="conflict")
    unknown = CONTROL_TOOL_NAMES if every_unknown else ("runs_unpause", "runs_terminate")
    for tool in unknown:
        arguments = {"instance_id": "no-such-run", **({"at": "0"} if tool.endswith("_fork") else {})}
        refused(await call(tool, **arguments), expect="no-such-run", code="unknown_instance")


@pytest.mark.timeout(900)  # 34 Inspector runs, each starting node and (over stdio) a server
async def test_inspector_cli_calls_the_admin_tools_over_stdio_and_http(tmp_path: Path) -> None:
    """The admin tools are the same in both tool styles: the full-style server serves them here."""
    require_ts_clients()
    db_url = f"sqlite:///{tmp_path / 'admin.db'}"
    home = tmp_path / "home"
    server = ["-e", f"EDDA_MCP_DB_URL={db_url}", "--", sys.executable, *serve_argv(db_url)]

    def over(target: list[str]) -> Call:
        return lambda tool, **arguments: inspector([*tool_call(tool, **arguments), *target], home)

    # over stdio each call starts a server: one refusal per tool keeps the run count down
    await inspector_run_control(over(server), over(server), "stdio", every_unknown=False)
    argv = [*serve_argv(db_url), "--transport", "http", "--port"]
    async with http_server(db_url, tmp_path, argv=argv) as (url, _):
        legacy, modern = ["--server-url", url], ["--protocol-era", "modern", "--server-url", url]
        await inspector_run_control(over(legacy), over(legacy), "legacy")
        for tool in CONTROL_TOOL_NAMES:  # plain tool calls in the 2026-07-28 era too; refusals validate
            arguments = {"instance_id": "no-such-run", **({"at": "0"} if tool.endswith("_fork") else {})}
            refused(await over(modern)(tool, **arguments), expect="no-such-run", code="unknown_instance")


@styles
async def test_inspector_cli_lists_and_calls_over_stdio(tmp_path: Path, style: ToolStyle) -> None:
    require_ts_clients()
    db_url = f"sqlite:///{tmp_path / 'inspector.db'}"
    server = ["-e", f"EDDA_MCP_DB_URL={db_url}", "--", sys.executable, *serve_argv(db_url, style=style)]
    home = tmp_path / "home"
    listed = await inspector(["--strict", "--method", "tools/list", *server], home)
    assert listed.returncode == 0, listed.stderr
    names = {tool["name"] for tool in listed.payload["result"]["tools"]}
    kinds = ("status", "result", "cancel")
    assert {
        "quick",
        *(tool_name(style, "quick", k) for k in kinds),
        tool_name(style, "approval", "respond"),
    } <= names
    done = accepted(
        await inspector([*tool_call("quick", order_id="I1"), *server], home), is_error=False, expect=""
    )
    assert done["structuredContent"]["status"] == "completed"
    iid = done["structuredContent"]["instance_id"]
    accepted(
        await inspector([*tool_call(tool_name(style, "quick", "result"), instance_id=iid), *server], home),
        is_error=False,
        expect="",
    )
    status_tool = tool_name(style, "quick", "status")
    unknown = await inspector([*tool_call(status_tool, instance_id="no-such-run"), *server], home)
    accepted(unknown, is_error=True, expect="no-such-run")
    if style is ToolStyle.COMPACT:
        listing = accepted(
            await inspector([*tool_call("runs_list", tool="quick"), *server], home),
            is_error=False,
            expect=iid,
        )
        assert [run["instance_id"] for run in listing["structuredContent"]["runs"]] == [iid]


@styles
async def test_inspector_cli_over_http_in_both_protocol_eras(tmp_path: Path, style: ToolStyle) -> None:
    require_ts_clients()
    db_url = f"sqlite:///{tmp_path / 'inspector.db'}"
    home = tmp_path / "home"
    argv = [*serve_argv(db_url, style=style), "--transport", "http", "--port"]
    async with http_server(db_url, tmp_path, argv=argv) as (url, _):
        legacy = ["--server-url", url]
        listed = await inspector(["--strict", "--method", "tools/list", *legacy], home)
        assert listed.returncode == 0, listed.stderr
        started = accepted(
            await inspector([*tool_call("approval", amount="2"), *legacy], home), is_error=False, expect=""
        )
        iid = started["structuredContent"]["instance_id"]
        pending = await inspector(
            [*tool_call(tool_name(style, "approval", "result"), instance_id=iid), *legacy], home
        )
        accepted(pending, is_error=True, expect="Not finished yet")
        accepted(
            await inspector(
                [*tool_call(tool_name(style, "approval", "status"), instance_id=iid), *legacy], home
            ),
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
        if style is ToolStyle.COMPACT:  # the shared tools are plain tool calls in the 2026-07-28 era too
            listing = accepted(
                await inspector([*tool_call("runs_list", tool="typed"), *modern], home),
                is_error=False,
                expect="",
            )
            assert [run["tool"] for run in listing["structuredContent"]["runs"]] == ["typed"]
            result_tool = tool_call("runs_result", instance_id=quote["structuredContent"]["instance_id"])
            typed = accepted(await inspector([*result_tool, *modern], home), is_error=False, expect="")
            assert typed["structuredContent"]["result"]["sku"] == "M1"
