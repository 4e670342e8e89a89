"""Creating, reading and listing instances; payload and datetime round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from durable_core.storage.sql import SqlStorage
from durable_core.types import (
    NO_PAYLOAD,
    ErrorInfo,
    FinishRequest,
    InstanceQuery,
    InstanceStatus,
    JsonScalar,
    JsonValue,
    Payload,
    PayloadEncoding,
)
from tests.storage.support import T0, TTL, entry, json_payload, new_instance, started

ALL_BYTES = bytes(range(256))
NESTED: dict[str, JsonValue] = {
    "list": [1, 2.5, -3, True, False, None, "x"],
    "obj": {"deep": {"deeper": ["a", {"b": None}]}, "empty": {}, "empty_list": []},
    "unicode": 'ü€😀 \n\t"quoted" \\ back',
    "big": 2**53 + 1,
    "float": 0.1,
}


async def test_create_is_idempotent_and_returns_the_stored_instance(storage: SqlStorage) -> None:
    first = await storage.create_instance(new_instance("a"))
    assert first.created
    assert first.instance.status is InstanceStatus.PENDING
    assert first.instance.lease_epoch == 0
    again = await storage.create_instance(new_instance("a", input=json_payload({"x": 2}), input_hash="other"))
    assert not again.created
    assert again.instance == first.instance  # the stored one, not the new request
    assert await storage.get_instance("a") == first.instance
    assert await storage.get_instance("missing") is None


async def test_ids_are_case_sensitive(storage: SqlStorage) -> None:
    assert (await storage.create_instance(new_instance("Order-1"))).created
    assert (await storage.create_instance(new_instance("order-1"))).created
    long_id = "i" * 255
    assert (await storage.create_instance(new_instance(long_id))).created
    assert (await storage.get_instance(long_id)) is not None


PAYLOADS = {
    "nested": json_payload(NESTED),
    "string": json_payload("just a string"),
    "list": json_payload([1, "two"]),
    "json-null": json_payload(None),
    "bytes": Payload(PayloadEncoding.BYTES, blob=ALL_BYTES),
    "empty-bytes": Payload(PayloadEncoding.BYTES, blob=b""),
    "codec-json": Payload(PayloadEncoding.CODEC_JSON, blob=ALL_BYTES[::-1]),
    "codec-bytes-70k": Payload(PayloadEncoding.CODEC_BYTES, blob=b"\x00" * 70_000),
    "none": NO_PAYLOAD,
}


async def test_payload_round_trip(storage: SqlStorage) -> None:
    for iid, payload in PAYLOADS.items():
        claimed = await started(storage, iid, input=payload)
        record = await storage.get_instance(iid)
        assert record is not None and record.input == payload, iid
        await storage.record_step(claimed.lease, entry(iid, result=payload))
        [stored] = await storage.load_history(iid)
        assert stored.result == payload, iid
        if payload.blob is not None:
            assert type(stored.result.blob) is bytes
        await storage.finish(claimed.lease, FinishRequest(InstanceStatus.COMPLETED, output=payload), T0)
        record = await storage.get_instance(iid)
        assert record is not None and record.output == payload, iid


async def test_errors_round_trip_with_their_cause_chain(storage: SqlStorage) -> None:
    cause = ErrorInfo("builtins:KeyError", "'k'", args=["k"], traceback="tb1")
    error = ErrorInfo("app.errors:Boom", "boom", args=[1, {"a": None}], traceback="Traceback...", cause=cause)
    claimed = await started(storage)
    await storage.finish(claimed.lease, FinishRequest(InstanceStatus.FAILED, error=error), T0)
    record = await storage.get_instance("inst-1")
    assert record is not None and record.error == error


async def test_datetimes_round_trip_as_aware_utc_with_microseconds(storage: SqlStorage) -> None:
    plus_two = timezone(timedelta(hours=2))
    created = datetime(2031, 12, 31, 23, 59, 58, 999999, tzinfo=plus_two)
    deadline = datetime(2032, 1, 1, 0, 0, 0, 1)  # naive: taken as UTC
    await storage.create_instance(new_instance("a", now=created, deadline_at=deadline))
    record = await storage.get_instance("a")
    assert record is not None
    assert record.created_at == created and record.created_at.tzinfo is UTC
    assert record.created_at.microsecond == 999999 and record.created_at.hour == 21
    assert record.deadline_at == deadline.replace(tzinfo=UTC) and record.deadline_at.tzinfo is UTC
    claim_time = datetime(2031, 12, 31, 22, 0, 0, 7, tzinfo=UTC)
    claimed = await storage.claim_instance("a", "w", claim_time, TTL)
    assert claimed is not None
    record = await storage.get_instance("a")
    assert record is not None
    assert record.lease_expires_at == claim_time + TTL and record.lease_expires_at.tzinfo is UTC
    assert record.updated_at == claim_time
    assert claimed.instance == record


async def _instances_for_listing(storage: SqlStorage) -> None:
    inputs: dict[str, JsonValue] = {
        "alice": {"name": "alice", "n": 1, "f": 1.5, "flag": True, "none": None, "tag": "x"},
        "alice-caps": {"name": "Alice", "n": 2, "f": 2.0, "flag": False, "tag": "x"},
        "alice-space": {"name": "alice ", "n": "1", "tag": "y"},
        "big": {"name": "big", "n": 2**60, "tag": "y"},
    }
    for offset, (iid, value) in enumerate(inputs.items()):
        await storage.create_instance(
            new_instance(iid, input=json_payload(value), now=T0 + timedelta(seconds=offset))
        )
    await storage.create_instance(
        new_instance("raw", input=Payload(PayloadEncoding.BYTES, blob=b'{"name": "alice"}'), now=T0)
    )


INPUT_QUERIES: list[tuple[tuple[tuple[str, JsonScalar], ...], set[str]]] = [
    ((("name", "alice"),), {"alice"}),
    ((("name", "Alice"),), {"alice-caps"}),
    ((("name", "alice "),), {"alice-space"}),
    ((("n", 1),), {"alice"}),
    ((("n", 1.0),), {"alice"}),
    ((("n", "1"),), {"alice-space"}),
    ((("n", 2**60),), {"big"}),
    ((("n", True),), set()),
    ((("f", 2),), {"alice-caps"}),
    ((("f", 1.5),), {"alice"}),
    ((("flag", True),), {"alice"}),
    ((("flag", False),), {"alice-caps"}),
    ((("none", None),), {"alice"}),
    ((("tag", "x"), ("flag", False)), {"alice-caps"}),
    ((("tag", "y"),), {"alice-space", "big"}),
    ((("missing", "x"),), set()),
]


async def test_list_by_input_fields(storage: SqlStorage) -> None:
    await _instances_for_listing(storage)
    for pairs, expected in INPUT_QUERIES:
        found = await storage.list_instances(InstanceQuery(input_equals=pairs))
        assert {r.instance_id for r in found} == expected, pairs


async def test_invalid_queries_raise_value_error(storage: SqlStorage) -> None:
    bad = [
        InstanceQuery(limit=0),
        InstanceQuery(limit=1001),
        InstanceQuery(input_equals=(('na"me', "x"),)),
        InstanceQuery(input_equals=(("", "x"),)),
        InstanceQuery(input_equals=(("name", ["x"]),)),  # type: ignore[arg-type]
        InstanceQuery(input_equals=(("name", float("nan")),)),
    ]
    for query in bad:
        with pytest.raises(ValueError):
            await storage.list_instances(query)


async def test_list_filters_and_keyset_pagination(storage: SqlStorage) -> None:
    ids = []
    for i in range(25):
        iid = f"i{i:02d}"
        ids.append(iid)
        created = T0 + timedelta(seconds=i // 3)  # groups of three share a creation time
        await storage.create_instance(
            new_instance(iid, workflow="even" if i % 2 == 0 else "odd", now=created)
        )
    claimed = await storage.claim_instance("i03", "w", T0, TTL)
    assert claimed is not None
    await storage.finish(claimed.lease, FinishRequest(InstanceStatus.COMPLETED), T0)

    pages: list[str] = []
    cursor = None
    while True:
        page = await storage.list_instances(InstanceQuery(limit=10, before=cursor))
        pages.extend(r.instance_id for r in page)
        if len(page) < 10:
            break
        cursor = (page[-1].created_at, page[-1].instance_id)
    expected = sorted(ids, key=lambda iid: (int(iid[1:]) // 3, iid), reverse=True)
    assert pages == expected

    odd = await storage.list_instances(InstanceQuery(workflow_name="odd", limit=1000))
    assert {r.instance_id for r in odd} == {i for i in ids if int(i[1:]) % 2}
    done = await storage.list_instances(InstanceQuery(statuses=frozenset({InstanceStatus.COMPLETED})))
    assert [r.instance_id for r in done] == ["i03"]
    assert await storage.list_instances(InstanceQuery(statuses=frozenset())) == []
    window = await storage.list_instances(
        InstanceQuery(created_after=T0 + timedelta(seconds=2), created_before=T0 + timedelta(seconds=4))
    )
    assert sorted(r.instance_id for r in window) == [f"i{i:02d}" for i in range(6, 12)]
    assert len(await storage.list_instances(InstanceQuery(limit=1))) == 1


async def test_in_memory_sqlite_works() -> None:
    store = SqlStorage("sqlite:///:memory:")
    await store.initialize()
    try:
        claimed = await started(store)
        await store.record_step(claimed.lease, entry())
        assert len(await store.load_history("inst-1")) == 1
        async with store.user_transaction() as tx:
            await tx.session.execute(select(1))  # takes the single connection
            with pytest.raises(RuntimeError, match="single connection"):
                await store.get_instance("inst-1")
    finally:
        await store.close()


async def test_instances_keep_their_other_fields(storage: SqlStorage) -> None:
    deadline = T0 + timedelta(hours=1)
    result = await storage.create_instance(new_instance("a", workflow="orders", deadline_at=deadline))
    record = result.instance
    assert (record.workflow_name, record.service_name, record.input_hash) == ("orders", "svc", "hash-1")
    assert record.deadline_at == deadline and record.finished_at is None and record.crash_count == 0
    assert not record.cancel_requested and record.output == NO_PAYLOAD and record.error is None
