"""``sqlite_synchronous`` / ``?synchronous=``: SQLite's ``PRAGMA synchronous``, FULL unless asked otherwise.

What keeps an acknowledged commit across a power loss is an fsync of the write-ahead log before the
commit returns (``synchronous=FULL``). These tests check the pragma on every connection the engine writes
through (pooled aiosqlite connections, the group-commit writer's thread and inline connections), and,
under ``strace``, that every acknowledgement (start, step, event) is preceded by an fsync of the WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from durable_core import (
    Catalog,
    EddaApp,
    InvalidDatabaseURLError,
    SqliteSynchronous,
    WorkflowContext,
    activity,
    workflow,
)
from durable_core.storage import make_storage
from durable_core.storage.base import Storage
from durable_core.storage.urls import is_memory_sqlite, normalize_url
from durable_core.storage.writer import SqliteThreadWriter

ROOT = Path(__file__).resolve().parents[2]
#: what ``PRAGMA synchronous`` reports for each setting
PRAGMA_LEVEL = {SqliteSynchronous.NORMAL: 1, SqliteSynchronous.FULL: 2}
POOLED = 5  # connections checked out at once (the default pool size)
STRACE_TIMEOUT = 120.0

catalog = Catalog()


@activity
async def double(ctx: WorkflowContext, i: int) -> int:
    return 2 * i


@workflow(catalog=catalog)
async def doubles(ctx: WorkflowContext, n: int) -> int:
    total = 0
    for i in range(n):
        total += await double(ctx, i)
    return total


def _file_url(tmp_path: Path, query: str = "") -> str:
    return f"sqlite:///{tmp_path / 'sync.db'}{query}"


async def _pooled_levels(storage: Storage) -> list[int]:
    """``PRAGMA synchronous`` of ``POOLED`` pool connections held at the same time."""
    engine = storage._conns.engine  # type: ignore[attr-defined]
    async with contextlib.AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(engine.connect()) for _ in range(POOLED)]
        return [int((await c.exec_driver_sql("PRAGMA synchronous")).scalar_one()) for c in conns]


async def _writer_levels(storage: Storage) -> dict[str, int]:
    """``PRAGMA synchronous`` of the group-commit writer's connections (its thread's and the inline one)."""
    writer = storage._writer  # type: ignore[attr-defined]
    assert isinstance(writer, SqliteThreadWriter)
    loop = asyncio.get_running_loop()
    # the periodic checkpoint runs in the writer thread on the connection it commits through (opening
    # it if no batch has needed the thread yet)
    await loop.run_in_executor(writer._executor, writer._checkpoint)

    def thread_level() -> int:
        return int(writer._local.conn.execute("PRAGMA synchronous").fetchone()[0])

    levels = {"writer thread": await loop.run_in_executor(writer._executor, thread_level)}
    if writer._inline is not None:
        levels["inline"] = int(writer._inline.execute("PRAGMA synchronous").fetchone()[0])
    return levels


@pytest.mark.parametrize(
    ("options", "query", "expected"),
    [
        ({}, "", SqliteSynchronous.FULL),
        ({"sqlite_synchronous": "full"}, "", SqliteSynchronous.FULL),
        ({"sqlite_synchronous": "normal"}, "", SqliteSynchronous.NORMAL),
        ({"sqlite_synchronous": SqliteSynchronous.NORMAL}, "", SqliteSynchronous.NORMAL),
        ({"sqlite_synchronous": "NORMAL"}, "", SqliteSynchronous.NORMAL),
        ({}, "?synchronous=full", SqliteSynchronous.FULL),
        ({}, "?synchronous=normal", SqliteSynchronous.NORMAL),
        ({}, "?synchronous=Normal", SqliteSynchronous.NORMAL),
        ({"sqlite_synchronous": "normal"}, "?synchronous=normal", SqliteSynchronous.NORMAL),
    ],
)
async def test_setting_is_in_force_on_every_connection(
    tmp_path: Path, options: dict[str, Any], query: str, expected: SqliteSynchronous
) -> None:
    async with EddaApp(_file_url(tmp_path, query), workflows=list(catalog), **options) as app:
        assert await doubles.start_and_wait(n=5) == 20
        pooled = await _pooled_levels(app.storage)
        writer = await _writer_levels(app.storage)
        inline_used = app.storage._writer._inline is not None  # type: ignore[attr-defined]
    assert pooled == [PRAGMA_LEVEL[expected]] * POOLED
    assert writer == dict.fromkeys(writer, PRAGMA_LEVEL[expected])
    # a FULL commit waits for an fsync, which must never block the event loop
    assert inline_used is (expected is SqliteSynchronous.NORMAL)


@pytest.mark.parametrize("bad", ["fast", "off", "extra", "", " full", 2, True])
async def test_bad_option_is_rejected_naming_the_value(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"got {bad!r}")) as info:
        EddaApp(_file_url(tmp_path), sqlite_synchronous=bad)  # type: ignore[arg-type]
    assert "'full' or 'normal'" in str(info.value)
    with pytest.raises(ValueError, match=re.escape(f"got {bad!r}")):
        make_storage(_file_url(tmp_path), sqlite_synchronous=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "sync.db").exists()  # nothing was created


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?synchronous=fast", "synchronous must be 'full' or 'normal', got 'fast'"),
        ("?synchronous=", "synchronous must be 'full' or 'normal', got ''"),
        ("?synchronous=full&synchronous=normal", "?synchronous= is given 2 times"),
    ],
)
async def test_bad_url_setting_is_rejected_naming_the_value(tmp_path: Path, query: str, message: str) -> None:
    with pytest.raises(InvalidDatabaseURLError) as info:
        EddaApp(_file_url(tmp_path, query))
    assert message in str(info.value)
    assert "sqlite:///path/to/file.db?synchronous=normal" in str(info.value)  # the accepted spelling
    assert not (tmp_path / "sync.db").exists()


async def test_option_and_url_must_agree(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"sqlite_synchronous='full' contradicts \?synchronous=normal"):
        EddaApp(_file_url(tmp_path, "?synchronous=normal"), sqlite_synchronous="full")


def test_url_parameter_is_not_handed_to_the_driver() -> None:
    assert normalize_url("sqlite:///app.db?synchronous=normal") == "sqlite+aiosqlite:///app.db"
    memory = normalize_url("sqlite:///:memory:?synchronous=full")
    assert is_memory_sqlite(memory)
    assert "synchronous" not in memory


async def test_server_databases_reject_the_sqlite_setting(db_url: str, backend: str) -> None:
    if backend == "sqlite":  # the same call on a SQLite database is fine
        async with EddaApp(db_url, workflows=list(catalog), sqlite_synchronous="normal") as app:
            assert await _pooled_levels(app.storage) == [1] * POOLED
        return
    with pytest.raises(ValueError, match=f"applies only to SQLite; the {backend} database"):
        EddaApp(db_url, sqlite_synchronous="normal")
    with pytest.raises(InvalidDatabaseURLError, match=r"\?synchronous= is a SQLite setting"):
        EddaApp(db_url + ("&" if "?" in db_url else "?") + "synchronous=full")
    async with EddaApp(db_url, workflows=list(catalog)) as app:  # default: no setting, works as before
        assert await doubles.start_and_wait(n=2) == 2


# -- fsync before acknowledgement, observed with strace ---------------------------------------------------
_SYSCALL = re.compile(
    r"^(?P<pid>\d+) +(?P<call>fdatasync|fsync|write)\((?P<fd>\d+)<(?P<path>[^>]*)>(?P<rest>.*)$"
)
_RESUMED = re.compile(r"^(?P<pid>\d+) +<\.\.\. (?P<call>fdatasync|fsync) resumed>.*= 0$")
_ACK = re.compile(r'"ACK ([^"\\]*)')


def _timeline(trace: str) -> list[tuple[str, str]]:
    """``("ack", what)`` when an acknowledgement was written, ``("sync", path)`` when an fsync returned."""
    events: list[tuple[str, str]] = []
    pending: dict[str, str] = {}  # pid -> path of its fsync in progress
    for line in trace.splitlines():
        if match := _RESUMED.match(line):
            if match["pid"] in pending:
                events.append(("sync", pending.pop(match["pid"])))
            continue
        match = _SYSCALL.match(line)
        if match is None:
            continue
        if match["call"] == "write":
            if ack := _ACK.search(match["rest"]):
                events.append(("ack", ack[1]))
        elif match["rest"].endswith("<unfinished ...>"):
            pending[match["pid"]] = match["path"]
        elif match["rest"].endswith("= 0"):
            events.append(("sync", match["path"]))
    return events


def _wal_syncs_before_each_ack(events: list[tuple[str, str]]) -> dict[str, int]:
    """For each acknowledgement: how many fsyncs of the WAL returned since the previous one."""
    counts: dict[str, int] = {}
    since = 0
    for kind, what in events:
        if kind == "sync" and what.endswith("-wal"):
            since += 1
        elif kind == "ack":
            counts[what] = since
            since = 0
    return counts


async def _traced_run(tmp_path: Path, setting: str) -> str:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (it shows the fsync calls of the SQLite connections)")
    trace = tmp_path / "strace.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = await asyncio.create_subprocess_exec(
        strace, "-f", "-y", "-qq", "-e", "trace=fdatasync,fsync,write", "-o", str(trace),
        sys.executable, "-W", "error", "-m", "tests.storage.sync_worker", _file_url(tmp_path), setting,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), STRACE_TIMEOUT)
    if proc.returncode != 0 and b"ptrace" in stderr:
        pytest.skip(f"strace cannot trace here: {stderr.decode(errors='replace')[:200]}")
    assert proc.returncode == 0, stderr.decode(errors="replace")
    assert stdout.decode().splitlines()[-1] == "ACK result 106"
    return trace.read_text()


async def test_full_syncs_the_wal_before_every_acknowledgement(tmp_path: Path) -> None:
    syncs = _wal_syncs_before_each_ack(_timeline(await _traced_run(tmp_path, "full")))
    acked = ["start", "event", "step 0", "step 1", "step 2"]
    assert set(acked) <= set(syncs), syncs
    assert all(syncs[what] >= 1 for what in acked), syncs


async def test_normal_acknowledges_without_syncing_the_wal(tmp_path: Path) -> None:
    """The contrast that shows the check above can fail: NORMAL commits reach the WAL unsynced."""
    syncs = _wal_syncs_before_each_ack(_timeline(await _traced_run(tmp_path, "normal")))
    acked = ["start", "event", "step 0", "step 1", "step 2"]
    assert set(acked) <= set(syncs), syncs
    assert all(syncs[what] == 0 for what in acked), syncs
