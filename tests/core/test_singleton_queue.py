"""Singleton starts with ``on_conflict="queue"``: one run per key at a time, the rest in line (every backend).

Each run logs ``(n, "start")`` in its first activity and ``(n, "end")`` in its last one, so the order of
the log shows which runs were active when; between the two the run waits for the event ``go`` (with
``{"fail": true}`` it fails instead), so the test decides when each holder ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from durable_core import (
    Catalog,
    EddaApp,
    InstanceStatus,
    Queue,
    RunControlError,
    TerminalError,
    WorkflowCancelledError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    wait_event,
    workflow,
)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    """Re-evaluate ``check`` until it holds (bounded by ``timeout`` real seconds)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.02)  # re-read the database; bounded by the timeout
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


def _gated(catalog: Catalog, log: list[tuple[int, str]]) -> object:
    @activity
    async def mark(ctx: WorkflowContext, n: int, what: str) -> None:
        log.append((n, what))

    @workflow(catalog=catalog)
    async def gated(ctx: WorkflowContext, n: int) -> int:
        await mark(ctx, n, "start")
        go = await wait_event(ctx, "go", timeout_seconds=120)
        if isinstance(go.data, dict) and go.data.get("fail"):
            raise TerminalError(f"run {n} was told to fail")
        await mark(ctx, n, "end")
        return n

    return gated


async def _status(app: EddaApp, iid: str) -> InstanceStatus:
    return (await app.get_instance(iid)).status


async def _until_waiting(app: EddaApp, iid: str) -> None:
    async def waiting() -> bool:
        return await _status(app, iid) is InstanceStatus.WAITING

    await eventually(waiting, f"{iid} waits for its event")


async def test_queued_starts_run_one_after_another_in_order(make_app, catalog: Catalog) -> None:
    log: list[tuple[int, str]] = []
    gated = _gated(catalog, log)
    app: EddaApp = await make_app(poll_interval=0.05)
    bound = gated.with_options(singleton_key="acct-1", on_conflict="queue")  # type: ignore[attr-defined]
    ids = [await bound.start(n=n) for n in range(3)]
    assert len(set(ids)) == 3  # every start is its own instance
    assert [await _status(app, i) for i in ids[1:]] == [InstanceStatus.QUEUED] * 2
    record = await app.get_instance(ids[2])
    assert record.singleton_key == "acct-1"
    progress = await app.handle(ids[2]).progress()
    assert progress.current_step == f"queued for singleton key 'acct-1' behind {ids[0]} (2nd in line)"
    assert await app.handle(ids[1]).status() is InstanceStatus.QUEUED
    # a start with on_conflict="return" meanwhile gets the holder
    returned = gated.with_options(singleton_key="acct-1")  # type: ignore[attr-defined]
    assert await returned.start(n=99) == ids[0]
    for k, iid in enumerate(ids):
        await _until_waiting(app, iid)
        assert [await _status(app, later) for later in ids[k + 1 :]] == [InstanceStatus.QUEUED] * (2 - k)
        await app.send_event("go", "test", {}, instance_id=iid)
        async with asyncio.timeout(30):
            assert await app.handle(iid).result() == k
    assert log == [(0, "start"), (0, "end"), (1, "start"), (1, "end"), (2, "start"), (2, "end")]
    # the key is free again: the next start runs at once
    again = await bound.start(n=3)
    await _until_waiting(app, again)


async def test_failure_cancel_and_terminate_of_the_holder_hand_the_key_on(make_app, catalog: Catalog) -> None:
    log: list[tuple[int, str]] = []
    gated = _gated(catalog, log)
    app: EddaApp = await make_app(poll_interval=0.05)
    bound = gated.with_options(singleton_key="k", on_conflict="queue")  # type: ignore[attr-defined]
    ids = [await bound.start(n=n) for n in range(4)]

    await _until_waiting(app, ids[0])
    await app.send_event("go", "test", {"fail": True}, instance_id=ids[0])
    with pytest.raises(WorkflowFailedError):
        await app.wait_result(ids[0], timeout=30)
    await _until_waiting(app, ids[1])  # failed: the next in line runs
    assert await _status(app, ids[2]) is InstanceStatus.QUEUED

    await app.cancel(ids[1], reason="not needed")
    with pytest.raises(WorkflowCancelledError):
        await app.wait_result(ids[1], timeout=30)
    await _until_waiting(app, ids[2])  # cancelled: the next in line runs
    assert await _status(app, ids[3]) is InstanceStatus.QUEUED

    await app.terminate(ids[2], "stuck", by="ops")
    with pytest.raises(WorkflowFailedError, match="terminated by ops"):
        await app.wait_result(ids[2], timeout=30)
    await _until_waiting(app, ids[3])  # terminated: the next in line runs
    await app.send_event("go", "test", {}, instance_id=ids[3])
    assert await app.wait_result(ids[3], timeout=30) == 3
    starts = [n for n, what in log if what == "start"]
    assert starts == [0, 1, 2, 3]  # each ran once, in order


async def test_cancelling_a_queued_start_takes_it_out_of_the_line(make_app, catalog: Catalog) -> None:
    log: list[tuple[int, str]] = []
    gated = _gated(catalog, log)
    app: EddaApp = await make_app(poll_interval=0.05)
    bound = gated.with_options(singleton_key="k", on_conflict="queue")  # type: ignore[attr-defined]
    ids = [await bound.start(n=n) for n in range(3)]
    await app.cancel(ids[1], reason="changed my mind")
    with pytest.raises(WorkflowCancelledError):
        await app.wait_result(ids[1], timeout=30)
    cancelled = await app.get_instance(ids[1])
    assert cancelled.status is InstanceStatus.CANCELLED and cancelled.cancel_reason == "changed my mind"
    assert await _status(app, ids[0]) is not InstanceStatus.QUEUED  # the holder is not affected
    progress = await app.get_progress(ids[2])
    assert progress.current_step == f"queued for singleton key 'k' behind {ids[0]} (1st in line)"
    await _until_waiting(app, ids[0])
    await app.send_event("go", "test", {}, instance_id=ids[0])
    await _until_waiting(app, ids[2])  # the cancelled one was skipped
    await app.send_event("go", "test", {}, instance_id=ids[2])
    assert await app.wait_result(ids[2], timeout=30) == 2
    assert [n for n, what in log if what == "start"] == [0, 2]  # the cancelled start never ran


async def test_a_handed_over_start_waits_for_its_queue_slot(make_app, catalog: Catalog) -> None:
    log: list[tuple[int, str]] = []
    gated = _gated(catalog, log)
    app: EddaApp = await make_app(poll_interval=0.05, queues=[Queue("q", concurrency=1)])
    bound = gated.with_options(queue="q", singleton_key="k", on_conflict="queue")  # type: ignore[attr-defined]
    ids = [await bound.start(n=n) for n in range(2)]
    assert (await app.get_instance(ids[1])).queue_name == "q"
    await _until_waiting(app, ids[0])
    assert await _status(app, ids[1]) is InstanceStatus.QUEUED
    await app.send_event("go", "test", {}, instance_id=ids[0])
    await _until_waiting(app, ids[1])
    await app.send_event("go", "test", {}, instance_id=ids[1])
    assert await app.wait_result(ids[1], timeout=30) == 1
    assert log == [(0, "start"), (0, "end"), (1, "start"), (1, "end")]


async def test_concurrent_starts_in_one_process_run_one_at_a_time(make_app, catalog: Catalog) -> None:
    spans: list[tuple[str, int]] = []

    @activity
    async def tracked(ctx: WorkflowContext, n: int) -> int:
        spans.append(("start", time.monotonic_ns()))
        await asyncio.sleep(0.01)  # the work whose overlap is measured
        spans.append(("end", time.monotonic_ns()))
        return n

    @workflow(catalog=catalog)
    async def single(ctx: WorkflowContext, n: int) -> int:
        return await tracked(ctx, n)

    app: EddaApp = await make_app(poll_interval=0.05)
    bound = single.with_options(singleton_key="k", on_conflict="queue")
    ids = await asyncio.gather(*(bound.start(n=n) for n in range(10)))
    assert len(set(ids)) == 10
    async with asyncio.timeout(60):
        results = await asyncio.gather(*(app.wait_result(i) for i in ids))
    assert sorted(results) == list(range(10))  # every start ran, exactly once
    assert len(spans) == 20
    active = peak = 0
    for what, _ in sorted(spans, key=lambda s: (s[1], s[0] == "start")):
        active += 1 if what == "start" else -1
        peak = max(peak, active)
    assert peak == 1


async def test_retrying_a_failed_holder_waits_until_its_key_is_free(make_app, catalog: Catalog) -> None:
    log: list[tuple[int, str]] = []
    gated = _gated(catalog, log)
    app: EddaApp = await make_app(poll_interval=0.05)
    bound = gated.with_options(singleton_key="k", on_conflict="queue")  # type: ignore[attr-defined]
    first, second = [await bound.start(n=n) for n in range(2)]
    await _until_waiting(app, first)
    await app.send_event("go", "test", {"fail": True}, instance_id=first)
    with pytest.raises(WorkflowFailedError):
        await app.wait_result(first, timeout=30)
    await _until_waiting(app, second)  # it holds the key now
    with pytest.raises(RunControlError, match=f"gave its singleton key 'k' to '{second}'"):
        await app.retry(first, by="ops")
    await app.send_event("go", "test", {}, instance_id=second)
    assert await app.wait_result(second, timeout=30) == 1
    await app.retry(first, by="ops")  # the key is free: the retried run takes it back
    assert await app.storage.flow().singleton_line().holder("gated", "k") == first
    with pytest.raises(WorkflowFailedError):  # its replay takes the recorded "fail" event again
        await app.wait_result(first, timeout=30)
    assert [n for n, what in log if what == "start"] == [0, 1]  # the retry replayed, ran nothing twice
