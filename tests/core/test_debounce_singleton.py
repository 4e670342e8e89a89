"""Debounced and singleton starts (every backend)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from durable_core import Catalog, ConfigurationError, EddaApp, WorkflowContext, wait_event, workflow


async def test_debounce_runs_the_last_input_once(make_app, catalog: Catalog) -> None:
    runs: list[str] = []

    @workflow(catalog=catalog)
    async def reindex(ctx: WorkflowContext, text: str) -> str:
        runs.append(text)
        return text

    app: EddaApp = await make_app(poll_interval=0.05)
    bound = reindex.with_options(debounce_key="doc-1", debounce=timedelta(milliseconds=300))
    ids = [await bound.start(text=f"v{i}") for i in range(5)]
    assert len(set(ids)) == 1  # every caller's handle is the one instance that will run
    async with asyncio.timeout(30):
        assert await app.wait_result(ids[0]) == "v4"
    assert runs == ["v4"]
    again = await bound.start(text="later")  # the window is over: a new instance
    assert again != ids[0]
    async with asyncio.timeout(30):
        assert await app.wait_result(again) == "later"


async def test_singleton_returns_the_active_instance(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def sync_account(ctx: WorkflowContext, account: str) -> str:
        await wait_event(ctx, "go", timeout_seconds=60)
        return account

    app: EddaApp = await make_app(poll_interval=0.05)
    bound = sync_account.with_options(singleton_key="acct-7")
    first = await bound.start(account="a")
    assert await bound.start(account="b") == first
    other_key = await sync_account.with_options(singleton_key="acct-8").start(account="c")
    assert other_key != first
    await app.send_event("go", "test", {}, instance_id=first)
    async with asyncio.timeout(30):
        assert await app.wait_result(first) == "a"
    second = await bound.start(account="d")  # the holder finished: a new instance takes the key
    assert second != first
    for iid in (second, other_key):
        await app.send_event("go", "test", {}, instance_id=iid)
    async with asyncio.timeout(30):
        assert await app.wait_result(second) == "d"


async def test_flow_option_mistakes_are_clear(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def noop(ctx: WorkflowContext) -> None:
        return None

    await make_app()
    with pytest.raises(ConfigurationError, match="debounce_key and debounce are given together"):
        noop.with_options(debounce_key="k")
    with pytest.raises(ConfigurationError, match="instance_id cannot be combined"):
        noop.with_options(instance_id="x", singleton_key="k")
    with pytest.raises(ConfigurationError, match="on_conflict must be"):
        noop.with_options(singleton_key="k", on_conflict="wait")
    with pytest.raises(ConfigurationError, match="queue_key and priority need a queue"):
        await noop.with_options(queue_key="t").start()
