"""``DurableMCPClient``: a workflow calls tools of a second MCP server (HTTP on 127.0.0.1) across a SIGKILL.

The workflow process is killed while the second ``add_item`` call is in the tool server; a new process
finishes the run. ``list_tools`` is called before every ``add_item`` but asks the server once per run. The tool server's side-effect log proves the completed call was not sent again; only
the interrupted one is (at least once). The bearer token is sent but never stored in history.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import StdioServerParameters

from durable_core import (
    Catalog,
    ConfigurationError,
    EddaApp,
    RetryPolicy,
    WorkflowContext,
    activity,
    workflow,
)
from edda_mcp import DurableMCPClient, MCPSecretMissingError
from tests.mcp.programs import mcp_client_worker
from tests.mcp.support import REPO_ROOT, free_port, wait_until

TOKEN = "s3cret-token-value"


@asynccontextmanager
async def _process(
    *args: str, env: dict[str, str] | None = None, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=str(REPO_ROOT), env=env, stdout=asyncio.subprocess.PIPE, stderr=out
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@asynccontextmanager
async def tool_server(workdir: Path) -> AsyncIterator[str]:
    port = free_port()
    async with _process(
        "-m", "tests.mcp.programs.tool_server", str(workdir), str(port), log=workdir / "tools.log"
    ):
        url = f"http://127.0.0.1:{port}/mcp"

        async def up() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            writer.close()
            return True

        await wait_until(up, "the tool server", timeout=60)
        yield url


def _effects(workdir: Path) -> list[str]:
    path = workdir / "effects.log"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)  # the crash-test backends
async def test_tool_calls_survive_a_sigkill_of_the_workflow_process(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "hold-b").touch()
    async with (
        tool_server(tmp_path) as url,
        EddaApp(db_url, workflows=list(mcp_client_worker.CATALOG), run_workers=False) as client,
    ):
        env = dict(os.environ, TOOL_TOKEN=TOKEN, EDDA_TEST_TOOL_URL=url)
        worker_args = ("-m", "tests.mcp.programs.mcp_client_worker", db_url)
        async with _process(*worker_args, env=env, log=tmp_path / "worker1.log") as first:
            assert first.stdout is not None
            assert (await asyncio.wait_for(first.stdout.readline(), 60)).startswith(b"ready")
            iid = await client.start("shopper", {"items": ["a", "b", "c"]}, instance_id="shop-1")
            await wait_until(
                lambda: _async("start b" in _effects(tmp_path)), "add_item b started", timeout=60
            )
            first.send_signal(signal.SIGKILL)
            await first.wait()
        (tmp_path / "hold-b").unlink()
        async with _process(*worker_args, env=env, log=tmp_path / "worker2.log"):
            assert await client.wait_result(iid, timeout=60) == [
                "add_item,whoami",
                "added a",
                "added b",
                "added c",
                f"Bearer ****{TOKEN[-4:]}",
            ]
        effects = _effects(tmp_path)
        # the list_tools step asked once: neither the three later list_tools calls nor the replay after
        # the kill asked again. The other four lists are the MCP SDK client's own: on each new connection
        # it lists the tools to validate a call's structured result (a, b's second attempt, c, whoami).
        assert effects.count("list") == 1 + 4
        assert effects.count("done a") == 1 and effects.count("start a") == 1  # completed: never re-sent
        # interrupted: sent again; the first request's handler may still finish on the server once the
        # hold is lifted, though its caller is dead (that is what "at least once" means for the other side)
        assert effects.count("start b") == 2 and effects.count("done b") in (1, 2)
        assert effects.count("start c") == 1
        history = await client.get_history(iid)
        assert [e.name for e in history] == ["mcp.list_tools:shop-tools"] + ["mcp.call_tool:shop-tools"] * 4
        assert TOKEN not in json.dumps([e.result.json_value for e in history])


async def _async(value: bool) -> bool:
    return value


async def test_tool_errors_are_results_and_a_missing_secret_fails_at_once(tmp_path: Path) -> None:
    catalog = Catalog()
    async with tool_server(tmp_path) as url:
        tools = DurableMCPClient(
            url=url, name="t", retry_policy=RetryPolicy(max_attempts=5, initial_interval=5)
        )
        unset = DurableMCPClient(url=url, name="u", headers="EDDA_TEST_UNSET_TOKEN_VAR")
        calls = DurableMCPClient(url=url, name="c", headers=lambda: {"Authorization": "Bearer from-callable"})

        @workflow(catalog=catalog)
        async def misuse(ctx: WorkflowContext) -> list[str]:
            out = []
            for name, arguments in (("add_item", {"wrong": 1}), ("no_such_tool", {})):
                result = await tools.call_tool(ctx, name, arguments)  # reported by the tool: a result
                out.append(f"{name}: is_error={result.is_error}")
            try:
                await unset.call_tool(ctx, "whoami")
            except MCPSecretMissingError as exc:
                out.append(type(exc).__name__)
            out.append((await calls.call_tool(ctx, "whoami")).content[0].text)  # type: ignore[union-attr]
            return out

        async with EddaApp(f"sqlite:///{tmp_path / 'misuse.db'}", workflows=[misuse]) as app:
            iid = await misuse.start()
            result = await app.wait_result(iid, timeout=30)
            history = await app.get_history(iid)
    assert result == [
        "add_item: is_error=True",
        "no_such_tool: is_error=True",
        "MCPSecretMissingError",
        "Bearer ****able",
    ]
    attempts = [1 if e.retry is None else e.retry.total_attempts for e in history]
    assert attempts == [1, 1, 1, 1], "tool errors are results, a missing secret is terminal: no retries"


async def test_list_tools_asks_once_per_run_and_again_after_recur(tmp_path: Path) -> None:
    catalog = Catalog()
    async with tool_server(tmp_path) as url:
        tools = DurableMCPClient(url=url, name="t")

        @activity
        async def list_inside(ctx: WorkflowContext) -> int:
            # inside an activity each call is a plain live request, part of this activity's attempt
            return len(await tools.list_tools(ctx)) + len(await tools.list_tools(ctx))

        @workflow(catalog=catalog)
        async def relister(ctx: WorkflowContext, round_: int) -> list[str]:
            first = await tools.list_tools(ctx)
            first[0].name = "changed by the caller"  # a copy: the run's recorded list is not touched
            again = await tools.list_tools(ctx)
            if round_ == 0:
                await ctx.recur(1)
            await list_inside(ctx)
            return sorted(tool.name for tool in again)

        async with EddaApp(f"sqlite:///{tmp_path / 'lists.db'}", workflows=[relister]) as app:
            iid = await relister.start(round_=0)
            assert await app.wait_result(iid, timeout=30) == ["add_item", "whoami"]
            history = await app.get_history(iid)
            archived = await app.get_archived_runs(iid)
    # run 1: one listing; run 2 (after recur): one listing, plus two live ones inside the activity
    assert _effects(tmp_path).count("list") == 4
    assert [e.name for e in history] == ["mcp.list_tools:t", "list_inside"]
    assert [[e.name for e in run.entries] for run in archived] == [["mcp.list_tools:t"]]


def test_constructor_refuses_what_cannot_work() -> None:
    stdio = StdioServerParameters(command=sys.executable, args=["-c", "pass"])
    with pytest.raises(ConfigurationError, match="exactly one"):
        DurableMCPClient(url="http://127.0.0.1:9/mcp", stdio=stdio)
    with pytest.raises(ConfigurationError, match="exactly one"):
        DurableMCPClient()
    with pytest.raises(ConfigurationError, match=r"stdio\.env"):
        DurableMCPClient(stdio=stdio, headers="TOKEN_VAR")
    with pytest.raises(ConfigurationError, match="never written to history"):
        DurableMCPClient(url="http://127.0.0.1:9/mcp", headers={"Authorization": "Bearer x"})  # type: ignore[arg-type]
    assert DurableMCPClient(url="http://127.0.0.1:8123/mcp").name == "127.0.0.1:8123"
