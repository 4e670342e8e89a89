"""Starting, running, results, idempotent ids and input validation."""

from __future__ import annotations

import asyncio
import enum

import pytest
from pydantic import BaseModel, Field

from durable_core import (
    Catalog,
    InputValidationError,
    InstanceConflictError,
    InstanceNotFoundError,
    InstanceStatus,
    StepKind,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowNotFoundError,
    activity,
    workflow,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(BaseModel):
    item_id: str
    quantity: int = Field(ge=1)
    color: Color = Color.RED


class Summary(BaseModel):
    total: int
    colors: list[Color]


async def test_start_returns_id_then_runs_in_background(make_app, catalog: Catalog) -> None:
    gate = asyncio.Event()
    calls: list[int] = []

    @activity
    async def add(ctx: WorkflowContext, a: int, b: int) -> int:
        await gate.wait()
        calls.append(a + b)
        return a + b

    @workflow(catalog=catalog)
    async def adder(ctx: WorkflowContext, a: int, b: int) -> int:
        return await add(ctx, a, b)

    app = await make_app()
    instance_id = await adder.start(a=2, b=3)
    # start() returned while the activity is still blocked: the body is not run inline.
    assert calls == []
    record = await app.get_instance(instance_id)
    assert record.workflow_name == "adder"
    gate.set()
    assert await app.handle(instance_id).result(timeout=10) == 5
    assert calls == [5]
    assert await app.handle(instance_id).status() is InstanceStatus.COMPLETED


async def test_pydantic_models_lists_and_enums_round_trip(make_app, catalog: Catalog) -> None:
    @activity
    async def count(ctx: WorkflowContext, items: list[Item]) -> Summary:
        return Summary(total=sum(i.quantity for i in items), colors=[i.color for i in items])

    @workflow(catalog=catalog)
    async def order(ctx: WorkflowContext, items: list[Item], note: str = "") -> Summary:
        assert all(isinstance(i, Item) for i in items)
        summary = await count(ctx, items)
        assert isinstance(summary, Summary)
        return summary

    await make_app()
    mixed = [Item(item_id="a", quantity=2), {"item_id": "b", "quantity": 3, "color": "blue"}]
    result = await order.start_and_wait(items=mixed)  # type: ignore[arg-type]  # dicts are validated too
    assert result == Summary(total=5, colors=[Color.RED, Color.BLUE])


async def test_invalid_input_is_rejected_before_anything_is_stored(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def order(ctx: WorkflowContext, items: list[Item]) -> int:
        return len(items)

    app = await make_app()
    with pytest.raises(InputValidationError, match=r"items\.0\.quantity"):
        await order.start(items=[{"item_id": "a", "quantity": 0}])  # type: ignore[list-item]
    with pytest.raises(InputValidationError, match="missing a required argument"):
        await order.start()  # type: ignore[call-arg]
    with pytest.raises(InputValidationError, match="unexpected keyword"):
        await order.start(items=[], bogus=1)  # type: ignore[call-arg]
    with pytest.raises(WorkflowNotFoundError, match="no workflow named 'nope'"):
        await app.start("nope", {})
    assert await app.list_instances() == []


async def test_instance_id_is_an_idempotency_key(make_app, catalog: Catalog) -> None:
    runs: list[str] = []

    @activity
    async def note(ctx: WorkflowContext, text: str) -> str:
        runs.append(text)
        return text

    @workflow(catalog=catalog)
    async def echo(ctx: WorkflowContext, text: str) -> str:
        return await note(ctx, text)

    app = await make_app()
    first = await echo.with_options(instance_id="order-1").start(text="hi")
    again = await echo.with_options(instance_id="order-1").start(text="hi")
    assert first == again == "order-1"
    assert await app.handle("order-1").result(timeout=10) == "hi"
    with pytest.raises(InstanceConflictError, match="different input"):
        await echo.with_options(instance_id="order-1").start(text="other")
    assert runs == ["hi"]
    assert len(await app.list_instances()) == 1


async def test_bad_instance_ids_and_unknown_ids(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def noop(ctx: WorkflowContext) -> None:
        return None

    app = await make_app()
    with pytest.raises(InputValidationError, match="at most 255"):
        await noop.with_options(instance_id="x" * 300).start()
    with pytest.raises(InputValidationError, match="printable"):
        await noop.with_options(instance_id="a\nb").start()
    with pytest.raises(InstanceNotFoundError):
        await app.get_instance("missing")
    with pytest.raises(InstanceNotFoundError):
        await app.handle("missing").result(timeout=1)


async def test_durable_now_uuid_random_and_history(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def values(ctx: WorkflowContext) -> dict[str, str]:
        return {"now": ctx.now().isoformat(), "uuid": str(ctx.uuid()), "random": str(ctx.random())}

    app = await make_app()
    iid = await values.start()
    result = await app.handle(iid).result(timeout=10)
    history = await app.get_history(iid)
    assert [e.kind for e in history] == [StepKind.NOW, StepKind.UUID, StepKind.RANDOM]
    assert str(history[1].result.json_value) == result["uuid"]


async def test_workflow_failure_is_reported_with_its_type(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def broken(ctx: WorkflowContext) -> None:
        raise KeyError("missing-thing")

    app = await make_app()
    iid = await broken.start()
    with pytest.raises(WorkflowFailedError, match="builtins:KeyError") as info:
        await app.handle(iid).result(timeout=10)
    assert isinstance(info.value.__cause__, KeyError)
    record = await app.get_instance(iid)
    assert record.status is InstanceStatus.FAILED
    assert record.error is not None and "missing-thing" in record.error.message


async def test_list_instances_filters(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def greet(ctx: WorkflowContext, name: str, vip: bool = False) -> str:
        return f"hi {name}"

    app = await make_app()
    ids = [await greet.start(name=n, vip=(n == "b")) for n in ("a", "b", "c")]
    for iid in ids:
        await app.handle(iid).result(timeout=10)
    done = await app.list_instances(status=InstanceStatus.COMPLETED, workflow_name="greet")
    assert {r.instance_id for r in done} == set(ids)
    only_b = await app.list_instances(input_equals={"name": "b"})
    assert [r.instance_id for r in only_b] == [ids[1]]
    vips = await app.list_instances(input_equals={"vip": True})
    assert [r.instance_id for r in vips] == [ids[1]]
    page1 = await app.list_instances(limit=2)
    page2 = await app.list_instances(limit=2, before=(page1[-1].created_at, page1[-1].instance_id))
    assert len(page1) == 2 and len(page2) == 1
    assert {r.instance_id for r in page1 + page2} == set(ids)
