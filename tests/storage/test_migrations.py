"""Versioned migrations: concurrent start-up, version checks, printable DDL."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.schema import CreateTable

from durable_core import Catalog, EddaApp, InstanceStatus, WorkflowContext, wait_event, workflow
from durable_core.errors import MigrationError
from durable_core.serialization import Serializer
from durable_core.storage import migrations, records
from durable_core.storage.dialects import dialect_for
from durable_core.storage.schema import FLOW_KEYS, INSTANCES, SCHEMA_VERSION
from durable_core.storage.sql import SqlStorage
from durable_core.storage.urls import backend_of, normalize_url
from durable_core.types import NewInstance

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 10


async def _spawn(url: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        "-m",
        "tests.storage.init_worker",
        url,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_concurrent_initialize_from_many_processes(db_url: str) -> None:
    procs = [await _spawn(db_url) for _ in range(WORKERS)]
    try:
        for proc in procs:  # every worker imported and built its storage
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.strip() == b"ready", line
        results = await asyncio.wait_for(asyncio.gather(*(p.communicate(b"go\n") for p in procs)), 120)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    applied = []
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        applied.append(out.decode().strip())
    all_versions = ",".join(str(v) for v, _, _ in migrations.MIGRATIONS)
    assert sorted(applied) == ["applied"] * (WORKERS - 1) + [f"applied {all_versions}"]
    storage = SqlStorage(db_url)
    try:
        assert await storage.schema_version() == migrations.LATEST_VERSION
        async with storage._conns.read() as conn:
            count = (await conn.execute(select(func.count()).select_from(SCHEMA_VERSION))).scalar()
        assert count == len(migrations.MIGRATIONS)
    finally:
        await storage.close()


async def test_fresh_database_versions(db_url: str) -> None:
    storage = SqlStorage(db_url)
    try:
        assert await storage.schema_version() == 0
        with pytest.raises(MigrationError, match="holds no Edda schema"):
            await storage.initialize(auto_migrate=False)
        assert await storage.migrate() == [v for v, _, _ in migrations.MIGRATIONS]
        assert await storage.migrate() == []
        await storage.initialize(auto_migrate=False)
        await storage.initialize()
        assert await storage.schema_version() == migrations.LATEST_VERSION
    finally:
        await storage.close()


async def test_newer_database_is_refused(storage: SqlStorage, db_url: str) -> None:
    async with storage._conns.write() as conn:
        await conn.execute(
            insert(SCHEMA_VERSION).values(version=migrations.LATEST_VERSION + 1, description="future")
        )
    newer = SqlStorage(db_url)
    try:
        with pytest.raises(MigrationError, match="newer than this code"):
            await newer.initialize()
        with pytest.raises(MigrationError):
            await newer.initialize(auto_migrate=False)
    finally:
        await newer.close()


async def test_migration_sql_is_printable_ddl(storage: SqlStorage) -> None:
    ddl = storage.migration_sql()
    for table in ("edda_schema_version", "edda_instances", "edda_history", "edda_attempts"):
        assert f"CREATE TABLE IF NOT EXISTS {table}" in ddl
    assert "CREATE INDEX" in ddl and "ix_edda_instances_status_lease" in ddl
    assert "INSERT INTO edda_schema_version" in ddl
    if storage.dialect_name == "mysql":
        assert "DATETIME(6)" in ddl and "LONGBLOB" in ddl and "utf8mb4" in ddl
    if storage.dialect_name == "postgresql":
        assert "JSONB" in ddl and "BYTEA" in ddl and "TIMESTAMP WITH TIME ZONE" in ddl


@pytest.mark.parametrize("dialect_url", ["sqlite:///x.db", "postgresql://u@h/d", "mysql://u@h/d"])
async def test_migration_sql_needs_no_connection(dialect_url: str) -> None:
    storage = SqlStorage(dialect_url)
    try:
        ddl = storage.migration_sql()
    finally:
        await storage.close()
    # the version table, v1's three, the outbox (v2), v3's five messaging tables, v5's worker heartbeats,
    # v7's stream chunks, v8's schedules, v9's queues, rate limits, flow keys and queue keys, v10's operator
    # action journal, v11's run-control journal
    assert ddl.count("CREATE TABLE") == 19
    steps = migrations.migration_steps(storage._conns.engine.dialect)
    assert steps[0].version == 1 and all(s.startswith("CREATE") for s in steps[0].statements)
    v1_instances = next(s for s in steps[0].statements if "CREATE TABLE" in s and "edda_instances" in s)
    assert "parent_instance_id" not in v1_instances  # v1 is frozen; v3 adds the column
    assert steps[2].statements[0].startswith("ALTER TABLE edda_instances ADD COLUMN parent_instance_id")


async def test_upgrade_from_v2_keeps_existing_instances(db_url: str) -> None:
    """A database created by version-2 code is upgraded to v3 in place; its rows keep working."""
    storage = SqlStorage(db_url)
    url = normalize_url(db_url)
    dialect = dialect_for(backend_of(url), url)
    async with storage._conns.raw(write=True) as conn, dialect.migration_lock(conn):
        await conn.execute(CreateTable(SCHEMA_VERSION, if_not_exists=True))
        for version, description, build in migrations.MIGRATIONS[:2]:  # what v2 code created
            for element in build(conn.dialect):
                await conn.execute(element)
            await conn.execute(insert(SCHEMA_VERSION).values(version=version, description=description))
        await conn.commit()
    assert await storage.schema_version() == 2
    await storage.close()

    catalog = Catalog()

    @workflow(catalog=catalog)
    async def old_style(ctx: WorkflowContext) -> str:
        return "done"

    @workflow(catalog=catalog)
    async def new_style(ctx: WorkflowContext) -> str:
        return str((await wait_event(ctx, "go")).data)

    async with EddaApp(db_url, workflows=list(catalog)) as app:  # migrates to the latest version
        assert await app.storage.schema_version() == migrations.LATEST_VERSION
        assert await app.wait_result(await old_style.start(), timeout=10) == "done"
        iid = await new_style.start()
        await app.send_event("go", "t", "yes", instance_id=iid)
        assert await app.wait_result(iid, timeout=10) == "yes"
        assert (await app.get_instance(iid)).parent_instance_id is None


async def test_upgrade_to_v12_tells_singleton_holders_their_key(db_url: str) -> None:
    """A holder stored by version-11 code learns its key, so its end hands the key to a queued start."""
    storage = SqlStorage(db_url)
    url = normalize_url(db_url)
    dialect = dialect_for(backend_of(url), url)
    async with storage._conns.raw(write=True) as conn, dialect.migration_lock(conn):
        await conn.execute(CreateTable(SCHEMA_VERSION, if_not_exists=True))
        for version, description, build in [
            m for m in migrations.MIGRATIONS if m[0] < 12
        ]:  # what v11 code created
            for element in build(conn.dialect):  # (MySQL: tables carry later indexes already)
                await migrations._execute_ddl(conn, dialect, element)
            await conn.execute(insert(SCHEMA_VERSION).values(version=version, description=description))
        await conn.commit()
    await storage.close()

    catalog = Catalog()

    @workflow(catalog=catalog)
    async def held(ctx: WorkflowContext) -> str:
        return str((await wait_event(ctx, "go")).data)

    # store a v11 holder by hand: an instance row without singleton_key, and its key row
    v11 = SqlStorage(db_url)
    now = datetime.now(UTC)
    new = NewInstance("old-holder", "held", Serializer().encode({}, "input"), "h", "test", now)
    values = {k: v for k, v in records.new_instance_values(new).items() if k != "singleton_key"}
    async with v11._conns.raw(write=True) as conn:
        await conn.execute(insert(INSTANCES).values(**values))
        key = {"kind": "singleton", "workflow_name": "held", "flow_key": "k", "instance_id": "old-holder"}
        await conn.execute(insert(FLOW_KEYS).values(**key))
        await conn.commit()
    await v11.close()

    async with EddaApp(
        db_url, workflows=list(catalog), poll_interval=0.05
    ) as app:  # migrates to the latest version
        assert (await app.get_instance("old-holder")).singleton_key == "k"
        queued = await held.with_options(singleton_key="k", on_conflict="queue").start()
        assert (await app.get_instance(queued)).status is InstanceStatus.QUEUED
        await app.send_event("go", "t", "old", instance_id="old-holder")
        await app.send_event("go", "t", "new", instance_id=queued)
        assert await app.wait_result("old-holder", timeout=20) == "old"
        assert await app.wait_result(queued, timeout=20) == "new"  # handed the key by the old holder
