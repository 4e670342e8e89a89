"""Times that fall on a whole second are stored like any other (fast writer and SQLAlchemy agree)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durable_core.storage.sql import SqlStorage
from durable_core.types import InstanceQuery
from tests.storage.support import new_instance

WHOLE = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


async def test_keyset_pages_over_instances_created_on_a_whole_second(storage: SqlStorage) -> None:
    for i in range(3):
        await storage.create_instance(new_instance(f"i{i}", now=WHOLE))
    await storage.create_instance(new_instance("later", now=WHOLE + timedelta(microseconds=1)))
    first = await storage.list_instances(InstanceQuery(limit=2))
    cursor = (first[-1].created_at, first[-1].instance_id)
    second = await storage.list_instances(InstanceQuery(limit=10, before=cursor))
    ids = [r.instance_id for r in first + second]
    assert ids[0] == "later"
    assert sorted(ids) == ["i0", "i1", "i2", "later"] and len(ids) == 4
    assert all(r.created_at in (WHOLE, WHOLE + timedelta(microseconds=1)) for r in first + second)
