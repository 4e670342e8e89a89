"""``ctx.patched`` / ``ctx.deprecate_patch``: in-flight runs keep their path across deploys (all databases)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from durable_core import (
    Catalog,
    EddaApp,
    InstanceStatus,
    StepKind,
    WorkflowBlockedError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    wait_event,
    workflow,
)
from tests.crash.support import wait_until
from tests.evolution import versions
from tests.evolution.versions import CALLS, EVENT

IN_FLIGHT = 50
FRESH = 5
AppFactory = Callable[[Catalog], Any]


@pytest.fixture
async def deploy(db_url: str) -> AsyncIterator[AppFactory]:
    """Start an app serving one version of the code; the previous one is shut down first."""
    running: list[EddaApp] = []

    async def factory(catalog: Catalog) -> EddaApp:
        while running:
            await running.pop().shutdown()
        app = EddaApp(db_url, "evolution", workflows=list(catalog), poll_interval=0.1, shutdown_timeout=1)
        await app.initialize()
        running.append(app)
        return app

    CALLS.clear()
    yield factory
    while running:
        await running.pop().shutdown()


async def _start_waiting(app: EddaApp, ids: list[str]) -> None:
    for iid in ids:
        await app.start("order", {"n": int(iid.split("-")[1])}, instance_id=iid)

    async def all_waiting() -> bool:
        waiting = await app.list_instances(status=InstanceStatus.WAITING, limit=1000)
        return {r.instance_id for r in waiting} >= set(ids)

    await wait_until(all_waiting, f"{len(ids)} instances wait for the event")


async def _release(app: EddaApp, ids: list[str]) -> dict[str, Any]:
    for iid in ids:
        await app.send_event(EVENT, "test", {}, instance_id=iid)
    results = await asyncio.gather(*(app.handle(iid).result(timeout=30) for iid in ids))
    return dict(zip(ids, results, strict=True))


async def _markers(app: EddaApp, iid: str) -> list[tuple[int, str]]:
    return [(e.position, e.name) for e in await app.get_history(iid) if e.kind is StepKind.PATCH]


async def test_in_flight_runs_keep_the_old_path_and_new_runs_take_the_new_one(deploy: AppFactory) -> None:
    old = [f"old-{n}" for n in range(IN_FLIGHT)]
    app = await deploy(versions.V1)
    await _start_waiting(app, old)
    assert CALLS["prepare"] == IN_FLIGHT

    app = await deploy(versions.V2)  # the patch is deployed while 50 runs wait past its point
    new = [f"new-{n}" for n in range(FRESH)]
    await _start_waiting(app, new)
    assert CALLS["audit"] == FRESH  # only the new runs took the new path so far
    results = await _release(app, old + new[:2])
    assert {results[i] for i in old} == {f"old {i.split('-')[1]}" for i in old}
    assert [results[i] for i in new[:2]] == ["new 0", "new 1"]
    assert CALLS["audit"] == FRESH and CALLS["prepare"] == IN_FLIGHT + FRESH
    assert await app.list_instances(status=InstanceStatus.BLOCKED) == []
    assert await _markers(app, old[0]) == []
    assert await _markers(app, new[0]) == [(1, "audit")]  # recorded once, where the code asked
    assert [e.kind for e in await app.get_history(old[0])] == [
        StepKind.ACTIVITY,
        StepKind.WAIT,
        StepKind.ACTIVITY,
    ]

    app = await deploy(versions.V3)  # deprecate: no old-path run is open any more
    await _start_waiting(app, ["v3-0"])
    assert await _release(app, [new[2], "v3-0"]) == {new[2]: "new 2", "v3-0": "new 0"}
    assert await _markers(app, "v3-0") == [(1, "audit")]  # v3 still records it (marked deprecated)
    assert CALLS["audit"] == FRESH + 1

    app = await deploy(versions.V4)  # removed: deprecated markers are stepped over ...
    await _start_waiting(app, ["v4-0"])
    assert await _release(app, ["v4-0"]) == {"v4-0": "new 0"}
    assert await _markers(app, "v4-0") == []
    v3_history = await app.export_history("v3-0")
    assert [r.ok for r in await app.replay_check(histories=[v3_history])] == [True]
    # ... but a run that took the path of ctx.patched (not deprecated) blocks, naming the patch
    await app.send_event(EVENT, "test", {}, instance_id=new[3])
    with pytest.raises(WorkflowBlockedError, match=r"ctx\.patched\('audit'\)"):
        await app.handle(new[3]).result(timeout=30)

    app = await deploy(versions.V3)  # resuming under code that has the call again finishes it
    assert await app.resume(new[3]) is True
    assert await app.handle(new[3]).result(timeout=30) == "new 3"
    assert CALLS["audit"] == FRESH + 2  # nothing ran twice: only v3-0 and v4-0 audited after the first five


async def test_an_unguarded_change_blocks_with_the_patch_advice(deploy: AppFactory) -> None:
    app = await deploy(versions.V1)
    await _start_waiting(app, ["old-1"])
    checked = await (await deploy(versions.UNGUARDED)).replay_check(include_finished=False)
    assert [(r.ok, r.position, r.expected) for r in checked] == [
        (False, 1, "the wait or timer the run was parked on there")
    ]
    assert checked[0].actual == "activity 'audit' with arguments #" + checked[0].actual.split("#")[1]
    app = await deploy(versions.UNGUARDED)
    await app.send_event(EVENT, "test", {}, instance_id="old-1")
    with pytest.raises(WorkflowBlockedError) as blocked:
        await app.handle("old-1").result(timeout=30)
    reason = (await app.get_instance("old-1")).blocked_reason or ""
    assert "position 1" in reason and "activity 'audit'" in reason, reason
    assert 'ctx.patched("<change-id>")' in reason and "resume" in str(blocked.value)
    assert CALLS["audit"] == 0  # the changed step never ran

    app = await deploy(versions.V2)  # the fix: guard it
    assert await app.resume("old-1") is True
    assert await app.handle("old-1").result(timeout=30) == "old 1"


async def test_patches_in_loops_gather_waits_and_recur(make_app: Any, catalog: Catalog) -> None:
    seen: list[str] = []

    @activity
    async def step(ctx: WorkflowContext, label: str) -> str:
        seen.append(label)
        return label

    @workflow(catalog=catalog, name="looping")
    async def looping(ctx: WorkflowContext, rounds: int) -> list[str]:
        out: list[str] = []
        for i in range(3):  # decided once per run: one marker, the same answer every iteration
            if ctx.patched("loop"):
                out.append(await step(ctx, f"new-{rounds}-{i}"))

        async def branch(i: int) -> str:
            return await step(ctx, f"b{i}-{'new' if ctx.patched('gather') else 'old'}")

        out += await asyncio.gather(*(branch(i) for i in range(3)))
        await wait_event(ctx, "tick")
        if ctx.patched("after-wait"):
            out.append(await step(ctx, "after"))
        if rounds:
            await ctx.recur(rounds - 1)  # the next run is a new history: patched() is True there too
        return out

    app = await make_app()
    iid = await looping.start(rounds=1)
    for _ in range(2):
        await wait_until(lambda: _waiting(app, iid), "the run waits for tick", timeout=30)
        await app.send_event("tick", "test", None, instance_id=iid)
    assert await app.handle(iid).result(timeout=30) == [
        "new-0-0",
        "new-0-1",
        "new-0-2",
        "b0-new",
        "b1-new",
        "b2-new",
        "after",
    ]
    markers = await _markers(app, iid)
    assert [name for _, name in markers] == ["loop", "gather", "after-wait"]
    assert [r.ok for r in await app.replay_check()] == [True]


async def _waiting(app: EddaApp, iid: str) -> bool:
    return (await app.get_instance(iid)).status is InstanceStatus.WAITING


async def test_patched_is_for_workflow_bodies(make_app: Any, catalog: Catalog) -> None:
    @activity
    async def misuse(ctx: WorkflowContext) -> bool:
        return ctx.patched("x")

    @workflow(catalog=catalog)
    async def calls_misuse(ctx: WorkflowContext) -> bool:
        return await misuse(ctx)

    app = await make_app()
    with pytest.raises(WorkflowFailedError, match="workflow body") as failed:
        await app.handle(await calls_misuse.start()).result(timeout=30)
    assert failed.value.type_name == "durable_core.errors:ApiMisuseError"
