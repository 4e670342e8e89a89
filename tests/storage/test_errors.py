"""Unreachable and lost databases surface as StorageUnavailableError with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from durable_core.errors import StorageUnavailableError
from durable_core.storage import make_storage
from durable_core.storage.connections import SqlUserTransaction
from durable_core.storage.sql import SqlStorage
from durable_core.types import RecordOutcome
from tests.backends import server_url, servers_only
from tests.storage.support import T0, TTL, entry, new_instance, started


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("postgresql://postgres:hunter2@127.0.0.1:1/x", "PostgreSQL"),
        ("mysql://root:hunter2@127.0.0.1:1/x", "MySQL"),
    ],
)
async def test_refused_connection(url: str, label: str) -> None:
    storage = make_storage(url)
    try:
        with pytest.raises(StorageUnavailableError) as info:
            await storage.initialize()
        message = str(info.value)
        assert label in message and "127.0.0.1:1" in message and "initialize" in message
        assert "hunter2" not in message
        assert "refused" in message.lower() or "can't connect" in message.lower()
        with pytest.raises(StorageUnavailableError, match="get_instance"):
            await storage.get_instance("x")
        with pytest.raises(StorageUnavailableError, match="claim_runnable"):
            await storage.claim_runnable("w", T0, TTL, 10, frozenset({"wf"}))
        with pytest.raises(StorageUnavailableError, match="purge_finished"):
            await storage.purge_finished(T0, 10)
    finally:
        await storage.close()


async def test_unopenable_sqlite_file(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path}/no/such/dir/edda.db")
    try:
        with pytest.raises(StorageUnavailableError, match="SQLite") as info:
            await storage.initialize()
        assert "no/such/dir' does not exist" in str(info.value)
    finally:
        await storage.close()


@servers_only  # SQLite creates missing database files
async def test_missing_server_database(backend: str) -> None:
    base = server_url(backend)
    assert base is not None
    url = base.rsplit("/", 1)[0] + "/edda_no_such_database"
    storage = make_storage(url)
    try:
        with pytest.raises(StorageUnavailableError, match="edda_no_such_database"):
            await storage.initialize()
    finally:
        await storage.close()


async def _kill_pooled_connection(storage: SqlStorage, admin: SqlStorage) -> None:
    """Terminate the server session behind the storage's (only) pooled connection."""
    async with storage._conns.read() as conn:
        if storage.dialect_name == "postgresql":
            session_id = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        else:
            session_id = (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar()
    async with admin._conns.read() as conn:
        if storage.dialect_name == "postgresql":
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": session_id})
        else:
            await conn.execute(text(f"KILL {int(str(session_id))}"))


@servers_only  # SQLite has no server connection to lose
async def test_connection_lost_mid_run_then_recovers(backend: str, db_url: str) -> None:
    storage = SqlStorage(db_url, pool_size=1, max_overflow=0)
    admin = SqlStorage(db_url)
    try:
        await storage.initialize()
        await storage.create_instance(new_instance("a"))
        await _kill_pooled_connection(storage, admin)
        with pytest.raises(StorageUnavailableError) as info:
            await storage.claim_instance("a", "w", T0, TTL)
        assert "claim_instance" in str(info.value) and db_url.rsplit("/", 1)[1] in str(info.value)
        claimed = await storage.claim_instance("a", "w", T0, TTL)  # the pool replaced the dead connection
        assert claimed is not None
    finally:
        await storage.close()
        await admin.close()


@servers_only  # SQLite has no server connection to lose
async def test_connection_lost_inside_a_user_transaction(backend: str, db_url: str) -> None:
    storage = SqlStorage(db_url)
    admin = SqlStorage(db_url)
    try:
        await storage.initialize()
        claimed = await started(storage)
        async with storage.user_transaction() as tx:
            pid_sql = "SELECT pg_backend_pid()" if backend == "postgresql" else "SELECT CONNECTION_ID()"
            session_id = (await tx.session.execute(text(pid_sql))).scalar()
            async with admin._conns.read() as conn:
                if backend == "postgresql":
                    await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": session_id})
                else:
                    await conn.execute(text(f"KILL {int(str(session_id))}"))
            with pytest.raises(StorageUnavailableError, match="record_step"):
                await storage.record_step(claimed.lease, entry(), tx=tx)
            assert isinstance(tx, SqlUserTransaction) and tx.done
        assert await storage.load_history("inst-1") == []
        assert await storage.record_step(claimed.lease, entry()) is RecordOutcome.RECORDED
    finally:
        await storage.close()
        await admin.close()
