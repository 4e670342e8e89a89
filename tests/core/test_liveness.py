"""The liveness heartbeat: the expiry rule on a fake monotonic clock, lapse and revival, and an app that lapses.

The rule: a beat sent at ``t`` and confirmed keeps the process alive until ``t + 0.8 * liveness_ttl``;
past that (or once the database says the row expired) it lapses, its runs stop, and it claims nothing
until it has freed its leases and revived its row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from durable_core import Catalog, ConfigurationError, EddaApp, WorkflowContext, activity, workflow
from durable_core.engine.control import RunControl
from durable_core.engine.liveness import SAFE_FRACTION, Heartbeat, LivenessState
from durable_core.errors import StorageUnavailableError
from durable_core.signals import LeaseLostSignal
from durable_core.storage.base import LivenessStore
from durable_core.storage.dbtime import DatabaseNow
from durable_core.storage.liveness import SqlLiveness
from durable_core.storage.schema import WORKERS
from durable_core.storage.sql import SqlStorage
from tests.crash.support import wait_until

TTL = 5.0


class LogSeen(logging.Handler):
    """Notes (thread-safely) that a log record of ``logger`` contained ``text`` while installed."""

    def __init__(self, logger: str, text: str) -> None:
        super().__init__(logging.WARNING)
        self.text = text
        self.seen = False
        self._logger = logging.getLogger(logger)

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen = True

    def __enter__(self) -> LogSeen:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeStore(LivenessStore):
    """Records calls (from the heartbeat thread); ``beat_result`` is returned or raised."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.beat_result: bool | Exception = True
        self.register_error: Exception | None = None

    async def register(self, worker_id: str, ttl: timedelta) -> None:
        self.calls.append("register")
        if self.register_error is not None:
            raise self.register_error

    async def beat(self, worker_id: str, ttl: timedelta) -> bool:
        self.calls.append("beat")
        if isinstance(self.beat_result, Exception):
            raise self.beat_result
        return self.beat_result

    async def revive(self, worker_id: str, ttl: timedelta) -> int:
        self.calls.append("revive")
        return 2

    async def retire(self, worker_id: str) -> None:
        self.calls.append("retire")

    async def close(self) -> None:
        self.calls.append("close")


# -- the rule, on a fake clock ----------------------------------------------------------------------
def test_a_confirmed_beat_keeps_the_process_alive_for_a_safe_fraction_of_the_ttl() -> None:
    ticks = Ticks()
    state = LivenessState(TTL, ticks)
    assert not state.alive()  # nothing confirmed yet
    state.confirm(sent_at=100.0)
    deadline = 100.0 + SAFE_FRACTION * TTL
    assert SAFE_FRACTION * TTL < TTL  # the database expires the row later than the process stops
    ticks.now = deadline - 0.001
    assert state.alive() and state.seconds_left() == pytest.approx(0.001)
    ticks.now = deadline
    assert not state.alive()
    state.confirm(sent_at=99.0)  # an older beat confirmed late extends nothing
    assert not state.alive()
    state.confirm(sent_at=deadline - 1)
    assert state.alive()


def test_a_lapse_holds_until_revived() -> None:
    ticks = Ticks()
    state = LivenessState(TTL, ticks)
    state.confirm(sent_at=100.0)
    state.lapse()
    assert not state.alive()
    state.confirm(sent_at=100.5)  # a plain beat cannot undo a lapse
    assert not state.alive()
    state.revived(sent_at=101.0)
    assert state.alive() and not state.lapsed
    ticks.now = 101.0 + SAFE_FRACTION * TTL
    assert not state.alive()


def test_a_run_stops_at_its_next_step_once_the_process_is_not_alive() -> None:
    alive = [True]
    control = RunControl(alive=lambda: alive[0])
    control.check_lease()
    alive[0] = False
    with pytest.raises(LeaseLostSignal):
        control.check_lease()
    assert not control.lease_lost  # nothing else flagged: the process may revive


def test_liveness_ttl_is_validated() -> None:
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ConfigurationError, match="liveness_ttl must be > 0"):
            EddaApp("sqlite:///:memory:", liveness_ttl=bad)


# -- the heartbeat thread, with a fake store ---------------------------------------------------------
class Observed:
    """The app-side callbacks; each records what the store had seen when it ran."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.lapsed = asyncio.Event()
        self.revived = asyncio.Event()
        self.calls_at_lapse: list[str] = []

    def on_lapse(self) -> None:
        self.calls_at_lapse = list(self.store.calls)
        self.lapsed.set()

    def on_revive(self) -> None:
        self.revived.set()


@pytest.fixture
async def beating() -> AsyncIterator[Callable[[float], Any]]:
    started: list[Heartbeat] = []

    async def start(ttl: float) -> tuple[Heartbeat, FakeStore, Observed, Ticks]:
        store, ticks = FakeStore(), Ticks()
        seen = Observed(store)
        heartbeat = Heartbeat(
            lambda: store, "w1", ttl, on_lapse=seen.on_lapse, on_revive=seen.on_revive, clock=ticks
        )
        await heartbeat.start()
        started.append(heartbeat)
        return heartbeat, store, seen, ticks

    yield start
    for heartbeat in started:
        await heartbeat.stop()


async def test_no_confirmed_beat_in_time_lapses_then_revives(beating: Callable[[float], Any]) -> None:
    heartbeat, store, seen, ticks = await beating(0.5)  # beats every 0.1 s of real time
    assert store.calls == ["register"] and heartbeat.alive()
    await wait_until(lambda: "beat" in store.calls, "the first beat")
    store.beat_result = StorageUnavailableError("database down")
    ticks.now += SAFE_FRACTION * 0.5  # the deadline of the last confirmed beat passes
    assert not heartbeat.alive()  # at once, before the thread noticed: runs stop at their next step
    await asyncio.wait_for(seen.lapsed.wait(), 10)
    assert "revive" not in seen.calls_at_lapse  # leases are freed only after the runs were stopped
    await asyncio.wait_for(seen.revived.wait(), 10)
    assert store.calls.count("revive") == 1 and heartbeat.alive()
    store.beat_result = True
    await heartbeat.stop()
    assert store.calls[-2:] == ["retire", "close"]


async def test_the_database_declaring_it_dead_lapses_it_at_once(beating: Callable[[float], Any]) -> None:
    heartbeat, store, seen, _ticks = await beating(0.5)
    store.beat_result = False  # the row had expired: someone may be taking over
    await asyncio.wait_for(seen.lapsed.wait(), 10)
    assert "revive" not in seen.calls_at_lapse
    store.beat_result = True
    await asyncio.wait_for(seen.revived.wait(), 10)
    assert heartbeat.alive()


async def test_a_failed_registration_fails_the_start() -> None:
    store = FakeStore()
    store.register_error = StorageUnavailableError("cannot reach the database")
    heartbeat = Heartbeat(lambda: store, "w1", TTL, on_lapse=lambda: None, on_revive=lambda: None)
    with pytest.raises(StorageUnavailableError, match="cannot reach"):
        await heartbeat.start()
    assert store.calls == ["register", "close"] and not heartbeat.alive()
    await heartbeat.stop()


# -- an app whose row is declared dead, on a server database ---------------------------------------
@pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
async def test_an_app_declared_dead_stops_its_run_frees_the_lease_and_resumes_it(
    db_url: str, catalog: Catalog, make_app: Callable[..., Any]
) -> None:
    """Its row is expired behind its back: the runs in flight are fenced out, the instance runs again."""
    gate = asyncio.Event()
    entered: list[int] = []
    after_calls: list[str] = []

    @activity(name="work")
    async def work(ctx: WorkflowContext, x: int) -> int:
        entered.append(ctx.attempt)
        await gate.wait()
        return x * 2

    @activity(name="after")
    async def after(ctx: WorkflowContext, value: int) -> int:
        after_calls.append(str(value))
        return value + 1

    @workflow(name="lapsing", catalog=catalog)
    async def lapsing(ctx: WorkflowContext, x: int) -> int:
        return await after(ctx, await work(ctx, x))

    app: EddaApp = await make_app(liveness_ttl=2.0, lease_ttl=60.0)
    iid = await app.start(lapsing, {"x": 21})
    await wait_until(lambda: len(entered) == 1, "the activity started")
    storage = app.storage
    assert isinstance(storage, SqlStorage)
    with LogSeen("durable_core.engine", f"worker {app.worker_id} is alive again") as revived:
        async with storage._conns.write() as conn:
            expire = update(WORKERS).where(WORKERS.c.worker_id == app.worker_id)
            await conn.execute(expire.values(expires_at=DatabaseNow()))
        # it lapses (its own claim loop may even take the instance over first: the owner is dead),
        # stops its runs, frees its lease, revives and claims the instance again
        await wait_until(lambda: revived.seen, "the app revived", 20)

    async def leased_again() -> bool:
        return (await app.get_instance(iid)).lease_expires_at is not None  # revive had freed it

    await wait_until(leased_again, "the instance was claimed again after the revival", 20)
    gate.set()
    assert await app.wait_result(iid, timeout=20) == 43
    record = await app.get_instance(iid)
    assert record.lease_epoch >= 2 and record.crash_count == record.lease_epoch - 1
    assert [e.name for e in await app.get_history(iid)] == ["work", "after"]
    assert after_calls == ["42"]  # no stopped run went on to the next step
    assert len(entered) >= 2
    liveness = SqlLiveness(db_url)
    try:
        left = await liveness.expires_in(app.worker_id)
        assert left is not None and left > timedelta(0)  # alive again
    finally:
        await liveness.close()
