"""Run control in storage: migration v7 on a database with rows, and the shown PAUSED status in queries."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import MetaData, column, insert, table
from sqlalchemy.schema import CreateTable

from durable_core import Catalog, EddaApp, InstanceStatus, WorkflowContext, workflow
from durable_core.storage import migrations, records
from durable_core.storage.dialects import dialect_for
from durable_core.storage.schema import INSTANCES, SCHEMA_VERSION, _instances_table
from durable_core.storage.sql import SqlStorage
from durable_core.storage.urls import backend_of, normalize_url
from durable_core.types import NewInstance, Payload, PayloadEncoding

#: the columns of edda_instances as version 5 created them (later migrations add the others)
V5_COLUMNS = frozenset(c.name for c in _instances_table(MetaData(), version=5).columns)


async def test_upgrade_from_v5_keeps_instances_that_existed_and_they_run(db_url: str) -> None:
    """An instance stored by v5 code gets ``paused = false`` from the new column's server default."""
    storage = SqlStorage(db_url)
    url = normalize_url(db_url)
    dialect = dialect_for(backend_of(url), url)
    new = NewInstance(
        instance_id="old-1",
        workflow_name="greet",
        input=Payload(PayloadEncoding.JSON, {"name": "v5"}),
        input_hash="h",
        service_name="old",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    values = {k: v for k, v in records.new_instance_values(new).items() if k in V5_COLUMNS}
    async with storage._conns.raw(write=True) as conn, dialect.migration_lock(conn):
        await conn.execute(CreateTable(SCHEMA_VERSION, if_not_exists=True))
        for version, description, build in migrations.MIGRATIONS:
            if version > 5:  # what v5 code created
                break
            for element in build(conn.dialect):
                await conn.execute(element)
            await conn.execute(insert(SCHEMA_VERSION).values(version=version, description=description))
        v5_table = table("edda_instances", *(column(k, INSTANCES.c[k].type) for k in values))
        await conn.execute(insert(v5_table).values(**values))
        await conn.commit()
    await storage.close()

    catalog = Catalog()

    @workflow(catalog=catalog)
    async def greet(ctx: WorkflowContext, name: str) -> str:
        return f"hello {name}"

    async with EddaApp(db_url, workflows=list(catalog), poll_interval=0.1) as app:  # migrates to v7
        assert await app.storage.schema_version() == migrations.LATEST_VERSION
        record = await app.get_instance("old-1")
        assert (record.paused, record.forked_from, record.forked_at) == (False, None, None)
        assert await app.wait_result("old-1", timeout=10) == "hello v5"


async def test_list_filters_by_the_shown_status(make_app, catalog: Catalog) -> None:
    """``status=PAUSED`` finds paused instances whatever their stored status; other filters skip them."""

    @workflow(catalog=catalog)
    async def idle(ctx: WorkflowContext) -> None:
        return None

    app = await make_app(run_workers=False)  # nothing runs: both stay PENDING in storage
    kept, paused = await idle.start(), await idle.start()
    await app.pause(paused)
    assert (await app.get_instance(paused)).status is InstanceStatus.PAUSED
    assert [r.instance_id for r in await app.list_instances(status=InstanceStatus.PAUSED)] == [paused]
    assert [r.instance_id for r in await app.list_instances(status=InstanceStatus.PENDING)] == [kept]
    both = await app.list_instances(status=[InstanceStatus.PENDING, InstanceStatus.PAUSED])
    assert {r.instance_id for r in both} == {kept, paused}
