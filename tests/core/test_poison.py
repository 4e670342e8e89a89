"""Poison inputs on every backend: refused at the edge, parked when storage refuses them, never a tight loop.

* what storage cannot hold is refused before anything is stored, with a ``ValueError`` naming the field,
  the same on SQLite, PostgreSQL and MySQL/MariaDB;
* a write the database refuses for good (here: a lone surrogate that slipped past the edge) parks the
  instance as blocked at once: ``result()`` returns, the activity's side effect ran exactly once;
* transient storage errors back off, counted durably, then park the instance as blocked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from durable_core import (
    Catalog,
    FakeClock,
    InputValidationError,
    InstanceNotFoundError,
    InstanceStatus,
    StorageBusyError,
    StorageRefusedError,
    TerminalError,
    WorkflowBlockedError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    publish,
    wait_event,
    workflow,
)
from durable_core.engine.faults import ENGINE_ERROR_LIMIT, blocked_reason, engine_error_position
from durable_core.serialization import error_to_info
from durable_core.validation import check_storable


async def test_unstorable_starts_and_sends_are_refused_naming_the_field(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def echo(ctx: WorkflowContext, note: Any) -> Any:
        return note

    app = await make_app()
    refused: list[tuple[Any, str]] = [
        (echo.with_options(instance_id="order-1 ").start(note="x"), "instance_id must not end with a space"),
        (echo.with_options(instance_id="a\x00").start(note="x"), "instance_id must be printable"),
        (echo.start(note={"lines": ["ok", "b\x00d"]}), r"input.note.lines\[1\] contains a NUL character"),
        (echo.start(note="\ud800"), "input.note contains a lone surrogate"),
        (echo.start(note={"k\x00": 1}), "input.note key 'k\\\\x00' contains a NUL"),
        (app.send_event("t" * 250, "src"), "event_type must be at most 249"),
        (app.send_event("paid\x00", "src"), "event_type must be printable"),
        (app.send_event("paid", "src\x00"), "source contains a NUL"),
        (app.send_event("paid", "src", {"x": "\udfff"}), r"data.x contains a lone surrogate"),
        (app.publish("c" * 201), "channel must be at most 200"),
        (app.publish("jobs "), "channel must not end with a space"),
    ]
    for call, message in refused:
        with pytest.raises(ValueError, match=message) as caught:
            await call
        assert isinstance(caught.value, InputValidationError)
    assert await app.list_instances() == []


async def test_ids_compare_exactly_on_every_backend(make_app, catalog: Catalog) -> None:
    """``"order-1 "`` is not ``"order-1"`` (MySQL/MariaDB pad trailing spaces when comparing)."""

    @workflow(catalog=catalog)
    async def order(ctx: WorkflowContext) -> str:
        event = await wait_event(ctx, "paid")
        return str(event.data)

    app = await make_app()
    iid = await order.with_options(instance_id="order-1").start()
    for lookalike in ("order-1 ", "order-1\x00", "order-1\ud800"):
        with pytest.raises(InstanceNotFoundError):
            await app.get_instance(lookalike)
        with pytest.raises(InstanceNotFoundError):
            await app.cancel(lookalike)
        with pytest.raises(ValueError, match="instance_id"):
            await app.send_event("paid", "test", "wrong", instance_id=lookalike)
    await app.send_event("paid", "test", "right", instance_id=iid)
    assert await app.handle(iid).result(timeout=30) == "right"


async def test_a_wait_key_that_would_overflow_fails_the_run_at_once(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def long_wait(ctx: WorkflowContext) -> str:
        await wait_event(ctx, "e" * 252)  # "event:" + 252 characters would not fit the 255-character key
        return "unreachable"

    @workflow(catalog=catalog)
    async def long_result(ctx: WorkflowContext) -> str:
        return "nul \x00 inside"

    app = await make_app()
    for wf in (long_wait, long_result):
        iid = await wf.start()
        with pytest.raises(WorkflowFailedError) as failed:
            await app.handle(iid).result(timeout=30)
        assert failed.value.type_name == "durable_core.errors:InputValidationError"
        assert (await app.get_instance(iid)).status is InstanceStatus.FAILED


async def test_a_refused_activity_result_parks_the_instance_without_running_it_again(
    make_app, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    side_effects: list[str] = []

    @activity
    async def charge(ctx: WorkflowContext) -> str:
        side_effects.append("charged")
        return "receipt \ud800"  # slips past the (disabled) edge check; every database refuses it

    @workflow(catalog=catalog)
    async def pay(ctx: WorkflowContext) -> str:
        try:
            return await charge(ctx)
        except Exception:  # an engine error is no exception the workflow can swallow
            return "swallowed"

    monkeypatch.setattr("durable_core.serialization.check_storable", lambda field, value: None)
    app = await make_app()
    iid = await pay.start()
    with pytest.raises(WorkflowBlockedError):
        await app.handle(iid).result(timeout=30)
    record = await app.get_instance(iid)
    assert record.status is InstanceStatus.BLOCKED
    assert record.blocked_reason is not None and "engine error: StorageRefusedError" in record.blocked_reason
    assert side_effects == ["charged"]
    assert await app.get_history(iid) == []


async def test_transient_storage_errors_back_off_durably_then_park(
    make_app, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    runs: list[int] = []
    failed = asyncio.Event()

    @activity
    async def step(ctx: WorkflowContext) -> str:
        runs.append(ctx.attempt)
        return "done"

    @workflow(catalog=catalog)
    async def flaky(ctx: WorkflowContext) -> str:
        return await step(ctx)

    app = await make_app(clock=clock)

    async def busy(*args: Any, **kwargs: Any) -> Any:
        failed.set()
        raise StorageBusyError("lock wait timeout (simulated)")

    monkeypatch.setattr(app.storage, "record_step", busy)
    iid = await flaky.start()
    counted: list[int] = []
    async with asyncio.timeout(60):
        while (record := await app.get_instance(iid)).status is not InstanceStatus.BLOCKED:
            state = (await app.storage.load_attempts(iid)).get(engine_error_position(0))
            if (
                record.status is InstanceStatus.WAITING
                and state is not None
                and state.attempts not in counted
            ):
                counted.append(state.attempts)  # counted durably, one more per failed run
                assert record.wake_at is not None
                backoff = (record.wake_at - clock.now()).total_seconds()
                assert 0 <= backoff <= 60
                assert len(runs) == state.attempts  # it did not run again before its wake-up time
                clock.advance(backoff)
            await asyncio.sleep(0.01)
    # the first retry is immediate (a one-off blip), so the first count may pass unobserved
    assert counted == list(range(counted[0], ENGINE_ERROR_LIMIT)) and counted[0] <= 2
    assert len(runs) == ENGINE_ERROR_LIMIT
    with pytest.raises(WorkflowBlockedError):
        await app.handle(iid).result(timeout=30)
    assert (
        record.blocked_reason is not None and f"gave up after {ENGINE_ERROR_LIMIT}" in record.blocked_reason
    )
    assert failed.is_set()


class Approval(BaseModel):
    approved: bool
    by: str


async def test_typed_waits_refuse_malformed_answers_and_keep_waiting(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def review(ctx: WorkflowContext) -> str:
        event = await wait_event(ctx, "approval", model=Approval)
        return f"{event.data.approved} by {event.data.by}"

    app = await make_app()
    iid = await review.start()
    async with asyncio.timeout(20):
        while await app.get_wait(iid) is None:  # noqa: ASYNC110 - a database state, no event to await
            await asyncio.sleep(0.02)
    with pytest.raises(ValueError, match=r"data.by: 'by' is a required property|'by' is a required"):
        await app.send_event("approval", "ui", {"approved": True}, instance_id=iid)
    with pytest.raises(ValueError, match="approved"):
        await app.send_event("approval", "ui", {"approved": "perhaps", "by": "ann"}, instance_id=iid)
    # by type, the malformed answer reaches the wait: it is recorded, and the wait goes on
    await app.send_event("approval", "ui", {"approved": "perhaps"})
    async with asyncio.timeout(20):
        while len(await app.get_history(iid)) < 1 or await app.get_wait(iid) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert (await app.get_instance(iid)).status is InstanceStatus.WAITING
    await app.send_event("approval", "ui", {"approved": True, "by": "ann"}, instance_id=iid)
    assert await app.handle(iid).result(timeout=30) == "True by ann"
    history = await app.get_history(iid)
    assert [entry.name for entry in history] == ["wait_event:approval", "wait_event:approval"]


async def test_channels_refuse_unstorable_messages(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog)
    async def sender(ctx: WorkflowContext) -> str:
        return await publish(ctx, "jobs", {"text": "nul\x00"})

    app = await make_app()
    iid = await sender.start()
    with pytest.raises(WorkflowFailedError) as failed:
        await app.handle(iid).result(timeout=30)
    assert failed.value.type_name == "durable_core.errors:InputValidationError"
    with pytest.raises(ValueError, match=r"data\.text contains a NUL"):
        await app.publish("jobs", {"text": "nul\x00"})


def test_text_the_engine_writes_is_always_storable() -> None:
    info = error_to_info(RuntimeError("bad \x00 and \ud800"))
    assert info.message == "bad \\x00 and \\ud800"
    check_storable("error", [info.message, info.traceback])
    reason = blocked_reason(StorageRefusedError("refused \x00"))
    assert reason.startswith("engine error: StorageRefusedError: refused \\x00")


async def test_an_error_message_holding_nul_is_recorded_and_fails_the_run(make_app, catalog: Catalog) -> None:
    @activity
    async def explode(ctx: WorkflowContext) -> None:
        raise TerminalError("nul \x00 in the message")

    @workflow(catalog=catalog)
    async def boom(ctx: WorkflowContext) -> None:
        await explode(ctx)

    app = await make_app()
    iid = await boom.start()
    with pytest.raises(WorkflowFailedError, match=r"nul \\x00 in the message"):
        await app.handle(iid).result(timeout=30)
