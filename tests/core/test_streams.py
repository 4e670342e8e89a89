"""Durable output streams: ``ctx.stream(name)`` writes, ``read_stream`` / ``follow_stream`` read.

Runs on SQLite, PostgreSQL and MySQL. Live delivery is proven by an activity that blocks until the
follower has seen its first chunk: the chunk must arrive while the activity still runs.
"""

from __future__ import annotations

import asyncio

import pytest

from durable_core import (
    ApiMisuseError,
    Catalog,
    ChunkKind,
    ChunkStatus,
    EddaApp,
    InputValidationError,
    InstanceNotFoundError,
    RetryPolicy,
    StreamChunk,
    WorkflowContext,
    activity,
    wait_event,
    workflow,
)

FAST_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=0, max_duration=None)


async def _collect(app: EddaApp, iid: str, name: str, after: int = 0) -> list[StreamChunk]:
    async with asyncio.timeout(15):
        return [c async for c in app.follow_stream(iid, name, after=after)]


async def test_chunks_are_pushed_live_and_committed_with_the_step(make_app, catalog: Catalog) -> None:
    seen_first = asyncio.Event()

    @activity
    async def produce(ctx: WorkflowContext) -> int:
        out = ctx.stream("tokens")
        out.write("hello")
        await out.flush()
        async with asyncio.timeout(10):
            await seen_first.wait()  # only a live follower can release this
        out.write(b"\x00bytes")
        out.write({"n": 1, "list": [1, 2]})
        return 3

    @workflow(catalog=catalog)
    async def streamer(ctx: WorkflowContext) -> int:
        return await produce(ctx)

    app = await make_app()
    iid = await streamer.start()
    got: list[StreamChunk] = []
    async with asyncio.timeout(15):
        async for chunk in app.follow_stream(iid, "tokens"):
            got.append(chunk)
            if chunk.data == "hello":
                assert chunk.status is ChunkStatus.IN_FLIGHT  # the step has no result yet
                seen_first.set()
    assert [c.data for c in got] == ["hello", b"\x00bytes", {"n": 1, "list": [1, 2]}]
    assert [c.seq for c in got] == [1, 2, 3]
    assert await app.handle(iid).result(timeout=10) == 3
    page = await app.read_stream(iid, "tokens")
    assert {c.status for c in page.chunks} == {ChunkStatus.COMMITTED}
    assert page.finished and page.done and page.cursor == 3
    assert {(c.position, c.attempt) for c in page.chunks} == {(0, 1)}
    assert got[1].text == "\x00bytes" and got[2].text == '{"n": 1, "list": [1, 2]}'


async def test_a_retried_attempt_leaves_its_chunks_marked_abandoned(make_app, catalog: Catalog) -> None:
    @activity(retry_policy=FAST_RETRY)
    async def flaky(ctx: WorkflowContext) -> str:
        out = ctx.stream("tokens")
        out.write(f"try {ctx.attempt}")
        if ctx.attempt == 1:
            raise RuntimeError("model connection reset")
        out.write("done")
        return "ok"

    @workflow(catalog=catalog)
    async def retrying(ctx: WorkflowContext) -> str:
        return await flaky(ctx)

    app = await make_app()
    iid = await retrying.start()
    assert await app.handle(iid).result(timeout=10) == "ok"
    page = await app.read_stream(iid, "tokens")
    assert [(c.data, c.attempt, c.status) for c in page.chunks] == [
        ("try 1", 1, ChunkStatus.ABANDONED),
        ("try 2", 2, ChunkStatus.COMMITTED),
        ("done", 2, ChunkStatus.COMMITTED),
    ]


async def test_cursor_paging_misses_nothing_across_steps(make_app, catalog: Catalog) -> None:
    @activity
    def sync_turn(ctx: WorkflowContext, turn: int) -> None:  # a sync activity writes from its thread
        out = ctx.stream("tokens")
        for i in range(100):
            out.write(f"{turn}.{i}")

    @workflow(catalog=catalog)
    async def turns(ctx: WorkflowContext) -> None:
        for turn in range(3):
            await sync_turn(ctx, turn)

    app = await make_app()
    iid = await turns.start()
    await app.handle(iid).result(timeout=15)
    cursor, data = 0, []
    while True:
        page = await app.read_stream(iid, "tokens", after=cursor, limit=70)
        data += [c.data for c in page.chunks]
        cursor = page.cursor
        if page.done:
            break
    assert data == [f"{t}.{i}" for t in range(3) for i in range(100)]
    # a follower that reconnects with its cursor goes on exactly where it stopped
    tail = await _collect(app, iid, "tokens", after=150)
    assert [c.seq for c in tail] == list(range(151, 301))
    assert {c.position for c in tail} == {1, 2}


async def test_close_ends_followers_while_the_instance_goes_on(make_app, catalog: Catalog) -> None:
    @activity
    async def answer(ctx: WorkflowContext) -> None:
        async with ctx.stream("answer") as out:
            out.write("partial")
            out.write("final")
        with pytest.raises(ApiMisuseError, match="closed"):
            out.write("late")

    @workflow(catalog=catalog)
    async def closing(ctx: WorkflowContext) -> None:
        await answer(ctx)
        await wait_event(ctx, "never", timeout_seconds=3600)

    app = await make_app()
    iid = await closing.start()
    got = await _collect(app, iid, "answer")
    assert [(c.kind, c.data) for c in got] == [
        (ChunkKind.DATA, "partial"),
        (ChunkKind.DATA, "final"),
        (ChunkKind.CLOSE, None),
    ]
    page = await app.read_stream(iid, "answer")
    assert page.closed and not page.finished


async def test_misuse_is_refused_with_clear_errors(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def body_writer(ctx: WorkflowContext) -> None:
        ctx.stream("tokens")

    @activity
    async def bad_chunk(ctx: WorkflowContext) -> str:
        with pytest.raises(TypeError):
            ctx.stream("tokens").write(object())
        with pytest.raises(InputValidationError):
            ctx.stream("")
        return "checked"

    @workflow(catalog=catalog)
    async def chunk_checker(ctx: WorkflowContext) -> str:
        return await bad_chunk(ctx)

    app = await make_app()
    with pytest.raises(Exception, match="only available inside an activity"):
        await app.handle(await body_writer.start()).result(timeout=10)
    assert await app.handle(await chunk_checker.start()).result(timeout=10) == "checked"
    with pytest.raises(InstanceNotFoundError):
        await app.read_stream("no-such-instance", "tokens")
    with pytest.raises(InputValidationError, match="after"):
        await app.read_stream("x", "tokens", after=-1)


async def test_other_processes_writes_are_pushed_on_postgresql(postgres_url: str, catalog: Catalog) -> None:
    """A reader app that runs no workers is woken by NOTIFY, long before its 60 s fallback poll.

    (Other backends have no push across processes: their followers poll, see ``follow_stream``.)
    """
    db_url = postgres_url
    release = asyncio.Event()

    @activity
    async def slow(ctx: WorkflowContext) -> None:
        out = ctx.stream("tokens")
        out.write("one")
        await out.flush()
        async with asyncio.timeout(10):
            await release.wait()
        out.write("two")

    @workflow(catalog=catalog)
    async def pushed(ctx: WorkflowContext) -> None:
        await slow(ctx)

    async with (
        EddaApp(db_url, workflows=list(catalog), poll_interval=0.2) as writer,
        EddaApp(db_url, workflows=list(catalog), run_workers=False) as reader,
    ):
        iid = await writer.start(pushed)
        got = []
        async with asyncio.timeout(15):
            async for chunk in reader.follow_stream(iid, "tokens", poll_interval=60):
                got.append(chunk.data)
                release.set()
                if chunk.data == "two":
                    break  # the end of a run in another process is seen by the fallback poll only
        assert got == ["one", "two"]
        await writer.handle(iid).result(timeout=10)


async def test_follow_streams_yields_every_stream_until_the_run_ends(make_app, catalog: Catalog) -> None:
    @activity
    async def two_streams(ctx: WorkflowContext) -> None:
        ctx.stream("tokens").write("t1")
        ctx.stream("log").write("l1")
        ctx.stream("tokens").write("t2")

    @workflow(catalog=catalog)
    async def multi(ctx: WorkflowContext) -> None:
        await two_streams(ctx)
        await two_streams(ctx)

    app = await make_app()
    iid = await multi.start()
    async with asyncio.timeout(15):
        got = [(c.stream, c.seq, c.data) async for c in app.follow_streams(iid)]
    assert sorted(got) == [
        ("log", 1, "l1"),
        ("log", 2, "l1"),
        ("tokens", 1, "t1"),
        ("tokens", 2, "t2"),
        ("tokens", 3, "t1"),
        ("tokens", 4, "t2"),
    ]
    async with asyncio.timeout(15):
        rest = [(c.stream, c.seq) async for c in app.follow_streams(iid, after={"tokens": 3, "log": 2})]
    assert rest == [("tokens", 4)]
