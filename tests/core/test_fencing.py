"""Fencing: a worker whose lease was taken over can record nothing and does not retry its side effect.

App A (``FakeClock`` frozen at T) claims an instance and blocks inside its first activity. App B, whose
clock reads T + 1 h, sees A's lease as expired, takes the instance over (bumping the epoch) and runs it
to completion. Only then does A's activity return. Both apps run in this process on the same database;
each serves its own definition of the workflow ``fenced`` so the test can tell whose code ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from durable_core import (
    Catalog,
    FakeClock,
    InstanceStatus,
    RetryPolicy,
    Workflow,
    WorkflowContext,
    activity,
    workflow,
)
from durable_core.storage.base import Storage
from durable_core.types import RecordOutcome
from tests.support.logs import MessageSeen

RETRY_3 = RetryPolicy(max_attempts=3, initial_interval=0, max_interval=0, jitter=0)
FENCED_WRITES = ("record_step", "record_attempt", "set_status", "finish", "release_lease")


@dataclass
class Side:
    """One app's definition of ``fenced`` and what its activities did."""

    label: str
    gate: asyncio.Event | None = None
    fail: bool = False
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    work_attempts: list[int] = field(default_factory=list)
    after_calls: list[str] = field(default_factory=list)

    def define(self) -> Workflow[Any, Any]:
        @activity(name="work", retry_policy=RETRY_3)
        async def work(ctx: WorkflowContext, x: int) -> str:
            self.work_attempts.append(ctx.attempt)
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.fail:
                raise ConnectionError(f"{self.label}: flaky")
            return f"{self.label}:{x}"

        @activity(name="after")
        async def after(ctx: WorkflowContext, value: str) -> str:
            self.after_calls.append(value)
            return f"{value}+after"

        @workflow(name="fenced", catalog=Catalog())
        async def fenced(ctx: WorkflowContext, x: int) -> str:
            return await after(ctx, await work(ctx, x))

        return fenced


def spy_on_fenced_writes(storage: Storage) -> list[tuple[str, Any]]:
    """Wrap the storage's fenced write methods; returns the list of ``(method, outcome)`` they produce."""
    calls: list[tuple[str, Any]] = []

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        async def spied(*args: Any, **kwargs: Any) -> Any:
            outcome = await original(*args, **kwargs)
            calls.append((name, outcome))
            return outcome

        return spied

    for name in FENCED_WRITES:
        setattr(storage, name, wrap(name, getattr(storage, name)))
    return calls


async def _take_over(make_app: Any, a: Side, b: Side) -> tuple[Any, Any, str]:
    """Run until B completed the instance A is stuck in; then let A's activity return and stop."""
    clock_a = FakeClock()
    app_a = await make_app(workflows=[a.define()], clock=clock_a, lease_ttl=2.0, poll_interval=0.1)
    writes_a = spy_on_fenced_writes(app_a.storage)
    iid = await app_a.start("fenced", {"x": 7})
    await asyncio.wait_for(a.entered.wait(), 10)
    record = await app_a.get_instance(iid)
    assert (record.lease_owner, record.lease_epoch) == (app_a.worker_id, 1)

    clock_b = FakeClock(clock_a.now() + timedelta(hours=1))  # A's lease is long expired for B
    app_b = await make_app(workflows=[b.define()], clock=clock_b, lease_ttl=2.0, poll_interval=0.1)
    assert await app_b.wait_result(iid, timeout=15) == "B:7+after"

    assert a.gate is not None
    with MessageSeen("durable_core.engine", f"lost the lease of {iid}") as stopped:
        a.gate.set()
        try:
            await asyncio.wait_for(stopped.event.wait(), 10)
        except TimeoutError:
            raise AssertionError(
                f"A's run did not stop for a lost lease; its fenced writes: {writes_a}"
            ) from None
    return app_b, writes_a, iid


async def _assert_only_b_recorded(app_b: Any, iid: str) -> None:
    record = await app_b.get_instance(iid)
    assert record.status is InstanceStatus.COMPLETED
    assert (record.lease_epoch, record.crash_count, record.lease_owner) == (2, 1, None)
    history = await app_b.get_history(iid)
    assert [(e.position, e.name, e.result.json_value) for e in history] == [
        (0, "work", "B:7"),
        (1, "after", "B:7+after"),
    ]


async def test_stale_owner_cannot_record_a_completed_activity(make_app) -> None:
    """A's activity returns after the takeover: its record_step is refused (LEASE_LOST), A stops.

    Proves: A attempted exactly one fenced write and it was refused; A ran ``work`` once and never
    reached ``after``; the history holds only B's entries; B counted A's lost attempt (B ran
    attempt 2), the epoch moved to 2 and the takeover counted as a crash.
    """
    a = Side("A", gate=asyncio.Event())
    b = Side("B")
    app_b, writes_a, iid = await _take_over(make_app, a, b)

    assert writes_a == [("record_step", RecordOutcome.LEASE_LOST)]
    assert a.work_attempts == [1] and a.after_calls == []
    assert b.work_attempts == [2] and b.after_calls == ["B:7"]
    await _assert_only_b_recorded(app_b, iid)


async def test_stale_owner_does_not_retry_a_failed_activity(make_app) -> None:
    """A's activity fails after the takeover: its retry bookkeeping is refused and it does not retry.

    The retry policy allows three attempts, but the fenced attempt counter write is refused
    (LEASE_LOST), so A stops after one attempt and its error is recorded nowhere.
    """
    a = Side("A", gate=asyncio.Event(), fail=True)
    b = Side("B")
    app_b, writes_a, iid = await _take_over(make_app, a, b)

    assert writes_a == [("record_attempt", RecordOutcome.LEASE_LOST)]
    assert a.work_attempts == [1] and a.after_calls == []
    assert b.work_attempts == [2]
    await _assert_only_b_recorded(app_b, iid)
    attempts = await app_b.storage.load_attempts(iid)
    assert all(state.last_error is None for state in attempts.values()), attempts
    assert "A: flaky" not in str(await app_b.get_history(iid))
