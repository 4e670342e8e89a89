"""Storage outages: an unreachable database at start-up, and a database that goes away mid-run.

Server outages are simulated with :class:`TcpProxy`, a small TCP forwarder on 127.0.0.1 between the
app and the real PostgreSQL/MariaDB server that can be *cut* (every open connection aborted, new ones
refused) and *restored* - the shared servers themselves are never stopped.

SQLite has no mid-run variant: it is an embedded file opened in-process, so there is no connection
to lose; a file another process keeps locked only makes writers wait (busy timeout), it does not
fail the run. Its start-up variant uses a path that cannot be opened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from durable_core import (
    Catalog,
    EddaApp,
    EddaError,
    InstanceStatus,
    RetryPolicy,
    StepOutcome,
    StorageUnavailableError,
    WorkflowContext,
    activity,
    workflow,
)
from durable_core.storage import make_storage
from durable_core.storage.migrations import LATEST_VERSION
from tests.support.logs import MessageSeen

SERVERS = pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
NO_RETRY = RetryPolicy(max_attempts=1)


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target``; :meth:`cut` drops every connection, :meth:`restore` heals."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen (on a fresh port the first time, on the same port after a cut)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening (new connections are refused) and abort every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        await self._drain_handlers()

    async def restore(self) -> None:
        """Accept connections again."""
        await self.start()

    async def close(self) -> None:
        """Cut and forget everything."""
        await self.cut()

    def url_for(self, db_url: str) -> str:
        """``db_url`` pointed at the proxy."""
        return make_url(db_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    async def _drain_handlers(self) -> None:
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        pair = [writer]
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            pair.append(up_writer)
            self._writers.add(up_writer)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except OSError:
            pass  # the target refused: the client sees its connection dropped
        finally:
            for w in pair:
                self._writers.discard(w)
                w.transport.abort()
            self._handlers.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxy(db_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(db_url)
    assert url.host is not None and url.port is not None
    tcp = TcpProxy(url.host, url.port)
    await tcp.start()
    try:
        yield tcp
    finally:
        await tcp.close()


# -- start-up ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "label"),
    [("postgresql://postgres@127.0.0.1:1/x", "PostgreSQL"), ("mysql://root@127.0.0.1:1/x", "MySQL")],
)
async def test_initialize_against_a_refused_server_names_the_database(url: str, label: str) -> None:
    """A refused connection at start-up raises StorageUnavailableError naming the database, and the
    app stays uninitialized (no dispatcher, nothing can be started)."""
    app = EddaApp(url, workflows=[])
    with pytest.raises(StorageUnavailableError) as info:
        await app.initialize()
    assert label in str(info.value) and "127.0.0.1:1/x" in str(info.value)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("edda-")]
    with pytest.raises(EddaError, match="not initialized"):
        await app.start("anything")
    await app.shutdown()  # harmless on an app that never came up
    await app.storage.close()


async def test_initialize_while_down_then_again_once_up(backend: str, db_url: str, tmp_path: Path) -> None:
    """Start-up against a database that is down fails cleanly, writes nothing, and works once it is up.

    Servers: the proxy in front of the fresh test database is cut; the error names host, port and
    database; the real database still has no schema afterwards. SQLite: the file's directory does
    not exist yet; no file is created.
    """
    if backend == "sqlite":
        folder = tmp_path / "not-yet"
        url = f"sqlite:///{folder / 'edda.db'}"
        expected = str(folder / "edda.db")
        tcp = None
    else:
        tcp = TcpProxy(make_url(db_url).host or "127.0.0.1", make_url(db_url).port or 0)
        await tcp.start()
        await tcp.cut()
        url = tcp.url_for(db_url)
        expected = f"127.0.0.1:{tcp.port}/{make_url(db_url).database}"
    catalog = Catalog()

    @workflow(catalog=catalog)
    async def hello(ctx: WorkflowContext, name: str) -> str:
        return f"hello {name}"

    app = EddaApp(url, workflows=[hello], poll_interval=0.1)
    try:
        with pytest.raises(StorageUnavailableError) as info:
            await app.initialize()
        assert expected in str(info.value), str(info.value)
        with pytest.raises(EddaError, match="not initialized"):
            await app.start(hello, {"name": "x"})
        if tcp is None:
            assert not folder.exists()
            folder.mkdir()
        else:
            direct = make_storage(db_url)
            try:
                assert await direct.schema_version() == 0  # nothing half-written
            finally:
                await direct.close()
            await tcp.restore()
        await app.initialize()  # the same app comes up once the database is reachable
        assert await app.storage.schema_version() == LATEST_VERSION
        iid = await app.start(hello, {"name": "edda"})
        assert await app.wait_result(iid, timeout=10) == "hello edda"
    finally:
        await app.shutdown()
        await app.storage.close()
        if tcp is not None:
            await tcp.close()


# -- mid-run ---------------------------------------------------------------------------------------
class Pipeline:
    """``s1 -> s2 -> s3``; ``s2``'s first run blocks until released. Counts starts and completions."""

    def __init__(self, retry_policy: RetryPolicy | None = None) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.in_s2 = asyncio.Event()
        self.release = asyncio.Event()

        @activity(retry_policy=retry_policy)
        async def step(ctx: WorkflowContext, label: str) -> str:
            self.calls["start", label] += 1
            if label == "s2" and self.calls["start", label] == 1:
                self.in_s2.set()
                await self.release.wait()
            self.calls["done", label] += 1
            return f"{label}#{self.calls['done', label]}"

        @workflow(name="outage", catalog=Catalog())
        async def outage(ctx: WorkflowContext) -> list[str]:
            return [await step(ctx, label) for label in ("s1", "s2", "s3")]

        self.workflow = outage


def spy_record_step(storage: Any, on_error: Callable[[], Any] | None = None) -> list[BaseException | str]:
    """Record what each ``record_step`` call did (outcome or exception); run ``on_error`` on a failure."""
    seen: list[BaseException | str] = []
    original = storage.record_step

    async def spied(*args: Any, **kwargs: Any) -> Any:
        try:
            outcome = await original(*args, **kwargs)
        except StorageUnavailableError as exc:
            seen.append(exc)
            if on_error is not None:
                await on_error()
            raise
        seen.append(str(outcome))
        return outcome

    storage.record_step = spied
    return seen


@SERVERS
async def test_database_lost_mid_run_then_back(db_url: str, proxy: TcpProxy) -> None:
    """The database vanishes while ``s2`` runs and stays away; when it is back the run resumes.

    Proves: while cut, ``s2``'s completion cannot be recorded (the history still ends at ``s1``) and
    the run stops instead of failing the instance; once restored, the worker gives its lease back
    (the outage is not counted as a crash) and runs the instance again: ``s1`` is replayed (never
    re-run), ``s2`` runs again (its first result was never recorded: at least once), ``s3`` runs once,
    each step is recorded exactly once and the workflow completes with the second ``s2`` result. A
    caller waiting through the proxied app keeps waiting across the outage instead of failing.
    """
    flow = Pipeline()
    observer = EddaApp(db_url, workflows=[flow.workflow], run_workers=False)  # direct, not proxied
    app = EddaApp(proxy.url_for(db_url), workflows=[flow.workflow], lease_ttl=1.5, poll_interval=0.1)
    await observer.initialize()
    await app.initialize()
    try:
        recorded = spy_record_step(app.storage)
        iid = await app.start(flow.workflow, {})
        await asyncio.wait_for(flow.in_s2.wait(), 10)
        with MessageSeen("durable_core.engine", f"while running {iid}") as gave_up:
            await proxy.cut()
            flow.release.set()
            await asyncio.wait_for(gave_up.event.wait(), 20)  # the run stopped without failing
        assert isinstance(recorded[-1], StorageUnavailableError)
        assert str(make_url(db_url).database) in str(recorded[-1])
        assert [e.name for e in await observer.get_history(iid)] == ["step"]  # s1 only
        assert (await observer.get_instance(iid)).status is InstanceStatus.RUNNING

        waiting = asyncio.create_task(app.wait_result(iid, timeout=30))  # starts while the database is away
        await proxy.restore()
        assert await waiting == ["s1#1", "s2#2", "s3#1"]
        assert flow.calls == Counter(
            {
                ("start", "s1"): 1,
                ("done", "s1"): 1,
                ("start", "s2"): 2,
                ("done", "s2"): 2,
                ("start", "s3"): 1,
                ("done", "s3"): 1,
            }
        )
        history = await observer.get_history(iid)
        assert [(e.position, e.outcome, e.result.json_value) for e in history] == [
            (0, StepOutcome.OK, "s1#1"),
            (1, StepOutcome.OK, "s2#2"),
            (2, StepOutcome.OK, "s3#1"),
        ]
        record = await observer.get_instance(iid)
        assert record.status is InstanceStatus.COMPLETED and record.lease_owner is None
        assert record.crash_count == 0  # the lease was given back, not left to expire
    finally:
        await app.shutdown()
        await observer.shutdown()


@SERVERS
async def test_brief_loss_while_recording_does_not_fail_the_activity(db_url: str, proxy: TcpProxy) -> None:
    """A connection lost exactly while a completed activity is recorded is not the activity's failure.

    The proxy heals right after ``s2``'s record_step failed, so every later call succeeds. ``s2`` has
    no retries: had the engine counted the storage error as an activity failure, it would record
    ``s2`` as failed and fail the workflow. Proves: the workflow completes, every step is recorded
    once with an OK outcome, ``s1`` and ``s3`` ran once and ``s2`` at most twice.
    """
    flow = Pipeline(retry_policy=NO_RETRY)
    observer = EddaApp(db_url, workflows=[flow.workflow], run_workers=False)  # direct, not proxied
    app = EddaApp(proxy.url_for(db_url), workflows=[flow.workflow], lease_ttl=1.5, poll_interval=0.1)
    await observer.initialize()
    await app.initialize()
    try:
        recorded = spy_record_step(app.storage, on_error=proxy.restore)
        iid = await app.start(flow.workflow, {})
        await asyncio.wait_for(flow.in_s2.wait(), 10)
        await proxy.cut()
        flow.release.set()
        result = await observer.wait_result(iid, timeout=30)
        assert isinstance(recorded[1], StorageUnavailableError)
        assert result[0] == "s1#1" and result[1] in ("s2#1", "s2#2") and result[2] == "s3#1"
        history = await observer.get_history(iid)
        assert [(e.position, e.outcome) for e in history] == [(i, StepOutcome.OK) for i in range(3)]
        assert flow.calls["done", "s1"] == 1 and flow.calls["done", "s3"] == 1
        assert flow.calls["done", "s2"] in (1, 2)
    finally:
        await app.shutdown()
        await observer.shutdown()
