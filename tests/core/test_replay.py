"""Replay after a restart, determinism checks, blocked instances and resuming them."""

from __future__ import annotations

import asyncio

import pytest

from durable_core import (
    ApiMisuseError,
    Catalog,
    EddaApp,
    InstanceStatus,
    WorkflowBlockedError,
    WorkflowContext,
    activity,
    wait_event,
    workflow,
)


async def test_completed_activities_do_not_run_again_after_restart(db_url: str) -> None:
    counts = {"one": 0, "two": 0}
    gate = asyncio.Event()
    started_two = asyncio.Event()

    @activity
    async def one(ctx: WorkflowContext) -> int:
        counts["one"] += 1
        return 1

    @activity
    async def two(ctx: WorkflowContext) -> int:
        counts["two"] += 1
        started_two.set()
        await gate.wait()
        return 2

    catalog = Catalog()

    @workflow(catalog=catalog)
    async def pipeline(ctx: WorkflowContext) -> int:
        return await one(ctx) + await two(ctx)

    first = EddaApp(db_url, workflows=list(catalog), shutdown_timeout=0, poll_interval=0.1)
    await first.initialize()
    iid = await pipeline.start()
    await asyncio.wait_for(started_two.wait(), 10)
    await first.shutdown()  # "crash" mid-activity: the run is cancelled and its lease released
    assert counts == {"one": 1, "two": 1}

    gate.set()
    second = EddaApp(db_url, workflows=list(catalog), poll_interval=0.1)
    await second.initialize()
    try:
        assert await second.handle(iid).result(timeout=10) == 3
    finally:
        await second.shutdown()
    assert counts == {"one": 1, "two": 2}  # one was replayed from history; two re-ran (it never finished)


async def test_changed_code_blocks_with_a_clear_message_and_resumes_after_fix(db_url: str) -> None:
    gate = asyncio.Event()
    reached = asyncio.Event()

    @activity
    async def charge(ctx: WorkflowContext, amount: int) -> int:
        return amount

    @activity
    async def refund(ctx: WorkflowContext, amount: int) -> int:
        return -amount

    @activity
    async def pause(ctx: WorkflowContext) -> None:
        reached.set()
        await gate.wait()

    v1 = Catalog()

    @workflow(catalog=v1, name="billing")
    async def billing_v1(ctx: WorkflowContext, amount: int) -> int:
        total = await charge(ctx, amount)
        await pause(ctx)
        return total

    app = EddaApp(db_url, workflows=list(v1), shutdown_timeout=0, poll_interval=0.1)
    await app.initialize()
    iid = await billing_v1.start(amount=10)
    await asyncio.wait_for(reached.wait(), 10)
    await app.shutdown()

    v2 = Catalog()

    @workflow(catalog=v2, name="billing")
    async def billing_v2(ctx: WorkflowContext, amount: int) -> int:
        total = await refund(ctx, amount)  # a different activity at position 0
        await pause(ctx)
        return total

    gate.set()
    app2 = EddaApp(db_url, workflows=list(v2), poll_interval=0.1)
    await app2.initialize()
    try:
        with pytest.raises(WorkflowBlockedError, match="position 0"):
            await app2.handle(iid).result(timeout=10)
        record = await app2.get_instance(iid)
        assert record.status is InstanceStatus.BLOCKED
        assert record.blocked_reason is not None
        assert "'refund'" in record.blocked_reason and "'charge'" in record.blocked_reason
        reports = await app2.replay_check()
        assert [(r.instance_id, r.ok) for r in reports] == [(iid, False)]
    finally:
        await app2.shutdown()

    # Deploy the fix (back to v1's step order) and resume.
    app3 = EddaApp(db_url, workflows=list(v1), poll_interval=0.1)
    await app3.initialize()
    try:
        assert await app3.resume(iid) is True
        assert await app3.handle(iid).result(timeout=10) == 10
        assert [r.ok for r in await app3.replay_check()] == [True]
    finally:
        await app3.shutdown()


async def test_changed_arguments_are_detected(db_url: str) -> None:
    reached = asyncio.Event()
    gate = asyncio.Event()

    @activity
    async def send(ctx: WorkflowContext, to: str) -> str:
        return to

    @activity
    async def pause(ctx: WorkflowContext) -> None:
        reached.set()
        await gate.wait()

    v1, v2 = Catalog(), Catalog()

    @workflow(catalog=v1, name="mail")
    async def mail_v1(ctx: WorkflowContext) -> None:
        await send(ctx, "alice")
        await pause(ctx)

    @workflow(catalog=v2, name="mail")
    async def mail_v2(ctx: WorkflowContext) -> None:
        await send(ctx, "bob")
        await pause(ctx)

    app = EddaApp(db_url, workflows=list(v1), shutdown_timeout=0)
    await app.initialize()
    iid = await mail_v1.start()
    await asyncio.wait_for(reached.wait(), 10)
    await app.shutdown()
    gate.set()
    async with EddaApp(db_url, workflows=list(v2), poll_interval=0.1) as app2:
        with pytest.raises(WorkflowBlockedError, match="with arguments"):
            await app2.handle(iid).result(timeout=10)


async def test_gather_of_activities_is_deterministic(make_app, catalog: Catalog) -> None:
    @activity
    async def square(ctx: WorkflowContext, x: int) -> int:
        await asyncio.sleep(0.001 * (5 - x))  # finish in reverse order
        return x * x

    @workflow(catalog=catalog)
    async def fan(ctx: WorkflowContext) -> list[int]:
        return list(await asyncio.gather(*(square(ctx, i) for i in range(5))))

    app = await make_app()
    iid = await fan.start()
    assert await app.handle(iid).result(timeout=10) == [0, 1, 4, 9, 16]
    history = await app.get_history(iid)
    assert [e.position for e in history] == [0, 1, 2, 3, 4]
    assert [r.ok for r in await app.replay_check()] == [True]


async def test_two_apps_in_one_process_do_not_see_each_other(tmp_path) -> None:
    cat_a, cat_b = Catalog(), Catalog()

    @workflow(catalog=cat_a, name="job")
    async def job_a(ctx: WorkflowContext) -> str:
        return "a"

    @workflow(catalog=cat_b, name="job")
    async def job_b(ctx: WorkflowContext) -> str:
        return "b"

    async with (
        EddaApp(f"sqlite:///{tmp_path}/a.db", workflows=list(cat_a)) as app_a,
        EddaApp(f"sqlite:///{tmp_path}/b.db", workflows=list(cat_b)) as app_b,
    ):
        ia = await job_a.start()
        ib = await job_b.start()
        assert await app_a.handle(ia).result(timeout=10) == "a"
        assert await app_b.handle(ib).result(timeout=10) == "b"
        assert [r.instance_id for r in await app_a.list_instances()] == [ia]
        assert [r.instance_id for r in await app_b.list_instances()] == [ib]


async def test_run_memo_is_fresh_for_each_execution_and_refused_in_activities(make_app, catalog) -> None:
    seen: list[tuple[bool, object]] = []  # (replaying, what the memo held) at the top of each execution
    misuse: list[str] = []

    @activity
    async def produce(ctx: WorkflowContext) -> int:
        try:
            ctx.run_memo  # noqa: B018 - the property refuses activities
        except ApiMisuseError as exc:
            misuse.append(str(exc))
        return 41

    @workflow(catalog=catalog)
    async def memoised(ctx: WorkflowContext) -> int:
        seen.append((ctx.is_replaying, ctx.run_memo.get("produced")))
        ctx.run_memo.put("produced", await produce(ctx))
        await wait_event(ctx, "go")
        value = ctx.run_memo.get("produced")
        assert isinstance(value, int) and "produced" in ctx.run_memo and len(ctx.run_memo) == 1
        return value + 1

    app = await make_app()
    iid = await memoised.start()

    async def parked() -> None:
        while (await app.get_instance(iid)).status is not InstanceStatus.WAITING:  # noqa: ASYNC110 - a stored status
            await asyncio.sleep(0.01)

    await asyncio.wait_for(parked(), 30)  # waiting, so the event resumes it in a new execution
    await app.send_event("go", "test", {}, instance_id=iid)
    assert await app.handle(iid).result(timeout=10) == 42
    # the resume replays the body from the top with an empty memo, filled again from the recorded step
    assert seen == [(False, None), (True, None)]
    assert len(misuse) == 1 and "not in an activity" in misuse[0]
