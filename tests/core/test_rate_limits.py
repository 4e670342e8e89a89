"""Rate limits: queue start rates measured from recorded admission times, and activity rate limits that
park the run durably (every backend)."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from durable_core import (
    Catalog,
    ConfigurationError,
    EddaApp,
    InstanceStatus,
    Queue,
    RateLimit,
    WorkflowContext,
    activity,
    workflow,
)
from durable_core.flow import RateState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _most_in_any_window(times: list[datetime], window: timedelta) -> int:
    """The largest number of ``times`` inside one half-open window [t, t + window)."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_rate_limit_grants_are_spaced_and_bounded_per_window() -> None:
    limit = RateLimit(20, per=timedelta(seconds=1))
    state: RateState | None = None
    granted: list[datetime] = []
    now = T0
    while len(granted) < 200:  # a claimer asking every 70 ms for grants up to 100 ms ahead
        grant = limit.grant(state, now, 5, horizon=timedelta(milliseconds=100))
        granted.extend(grant.times)
        state = grant.state
        assert all(now <= t <= now + timedelta(milliseconds=100) for t in grant.times)
        assert grant.retry_at is not None and grant.retry_at > now
        now += timedelta(milliseconds=70)
    assert _most_in_any_window(granted, timedelta(seconds=1)) == 20
    # slow claims do not slow the schedule: exactly 50 ms apart
    assert all(b - a == timedelta(milliseconds=50) for a, b in itertools.pairwise(granted))
    assert state is not None and RateState.from_json(state.to_json()) == state
    burst = RateLimit(5, per=timedelta(seconds=1), burst=5).grant(None, T0, 10)
    assert burst.granted == 5 and burst.retry_at == T0 + timedelta(milliseconds=200)
    with pytest.raises(ConfigurationError, match="burst"):
        RateLimit(5, burst=6)
    with pytest.raises(ConfigurationError, match="count"):
        RateLimit(0)


async def test_queue_rate_limit_20_per_second(make_app, catalog: Catalog) -> None:
    @workflow(catalog=catalog, queue="paced")
    async def paced(ctx: WorkflowContext, n: int) -> int:
        return n

    queues = [Queue("paced", rate_limit=RateLimit(20, per=timedelta(seconds=1)))]
    client: EddaApp = await make_app(queues=queues, run_workers=False)
    ids = [await paced.with_options(app=client).start(n=i) for i in range(200)]  # all stored first
    app: EddaApp = await make_app(queues=queues, poll_interval=0.05)
    async with asyncio.timeout(30):
        results = await asyncio.gather(*(app.wait_result(i) for i in ids))
    assert sorted(results) == list(range(200))
    admitted = await app.queue_admissions("paced")
    assert len(admitted) == 200
    assert admitted[-1] - admitted[0] >= timedelta(seconds=9.5)
    assert _most_in_any_window(admitted, timedelta(seconds=1)) <= 20
    # (the achieved rate, 199 intervals over that time, is measured by bench/queues.py)


async def test_activity_rate_limit_waits_durably(make_app, catalog: Catalog) -> None:
    calls: list[float] = []

    @activity(rate_limit="api")
    async def call_api(ctx: WorkflowContext, n: int) -> int:
        calls.append(time.monotonic())
        return n * 2

    @workflow(catalog=catalog)
    async def uses_api(ctx: WorkflowContext, n: int) -> int:
        return await call_api(ctx, n)

    app: EddaApp = await make_app(
        rate_limits={"api": RateLimit(10, per=timedelta(seconds=1))},
        max_concurrent_runs=2,
        poll_interval=0.05,
    )
    ids = [await uses_api.start(n=i) for i in range(12)]
    parked_seen = False
    async with asyncio.timeout(30):
        while not parked_seen:
            waiting = await app.list_instances(status=InstanceStatus.WAITING)
            parked_seen = any(r.wake_at is not None for r in waiting)
            await asyncio.sleep(0.01)  # bounded: until one run parked for a grant
        results = await asyncio.gather(*(app.wait_result(i) for i in ids))
    assert sorted(results) == [2 * i for i in range(12)]
    assert len(calls) == 12  # held back, never failed or repeated
    assert max(calls) - min(calls) >= 1.0  # 11 intervals of 100 ms, minus scheduling slack
    for iid in ids:  # the wait for a grant leaves nothing in history: one activity entry each
        assert [e.kind.value for e in await app.get_history(iid)] == ["activity"]


async def test_unknown_rate_limit_name_fails_the_activity_clearly(make_app, catalog: Catalog) -> None:
    @activity(rate_limit="nope")
    async def limited(ctx: WorkflowContext) -> None:
        return None

    @workflow(catalog=catalog)
    async def uses(ctx: WorkflowContext) -> None:
        await limited(ctx)

    app: EddaApp = await make_app()
    iid = await uses.start()
    with pytest.raises(Exception, match="rate limit 'nope' is not configured") as info:
        async with asyncio.timeout(30):
            await app.wait_result(iid)
    assert info.value is not None
