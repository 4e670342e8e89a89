"""One dispatcher per app: a bounded pool of runs fed by local hints, a timer loop and a fallback poll.

The timer loop sleeps on the app's clock until the earliest stored wake-up time (never on a fixed
period); a local instance that parks with an earlier timer wakes it at once, and it re-reads the earliest
wake-up time at least every ``poll_interval`` to learn about timers set by other processes.

Claims go through storage (``SKIP LOCKED`` where the dialect has it). A background renewer extends
every held lease in one batched statement and tells runs when their lease is gone or their
instance was cancelled elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from durable_core.authoring.runtime import WaitSpec
from durable_core.engine.clock_wait import sleep_or_event
from durable_core.engine.control import RunControl
from durable_core.engine.runner import InstanceRunner
from durable_core.engine.services import EngineServices
from durable_core.errors import StorageUnavailableError
from durable_core.storage.base import WakeListener
from durable_core.types import ClaimedInstance, HistoryEntry, InstanceRecord

logger = logging.getLogger("durable_core.engine")

#: instances whose history a process keeps after parking them here (see ``Dispatcher._parked``)
PARKED_HISTORY_CACHE: Final = 256


@dataclass(frozen=True, slots=True)
class ParkedRun:
    """What this process knows of an instance it parked.

    Attributes:
        epoch: the lease epoch of the run that parked it.
        history: every entry known at the park.
        wait: (position, spec) of the event/message wait it parked on (None for a timer).
    """

    epoch: int
    history: list[HistoryEntry]
    wait: tuple[int, WaitSpec] | None = None


class Dispatcher:
    """Claims runnable instances and runs them, at most ``max_concurrent`` at a time."""

    def __init__(
        self,
        services: EngineServices,
        *,
        max_concurrent: int,
        poll_interval: float,
        on_run_finished: Callable[[str, InstanceRecord | None], None],
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self._s = services
        # Queued work is claimed by its queue (limits held by the database); True: claim it at the next turn.
        self._queue_due = services.flow is not None and services.flow.has_queues
        self._queue_retry: float | None = None  # loop time a rate-limited start may be admitted
        self._scheduled: set[asyncio.Task[None]] = set()  # rate-limited starts waiting for their time
        self._alive = alive  # this process's liveness: claim and run nothing while it is False
        self._max = max_concurrent
        self._poll_interval = poll_interval
        self._on_run_finished = on_run_finished
        self._hints: deque[str] = deque()
        self._remote_hints: deque[str] = deque()  # made runnable by another process (LISTEN/NOTIFY)
        self._listener: WakeListener | None = None
        self._wakeup = asyncio.Event()
        self._runs: dict[str, tuple[asyncio.Task[None], RunControl]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._backlog: dict[str, ClaimedInstance] = {}  # leased here, waiting for a free slot
        self._background: set[asyncio.Task[Any]] = set()
        self._timers_changed = asyncio.Event()  # a local instance parked: re-read the earliest wake-up
        self._next_timer: datetime | None = None  # the earliest wake-up the timer loop sleeps towards
        self._timer_due = False  # the timer loop saw a due timer: the claim loop must poll now
        # History of instances this process parked, keyed by id with the epoch of that run: when the
        # next claim is that epoch + 1, nobody else ran it in between and the history read is skipped.
        # Bounded (oldest dropped): a waiting instance still lives in the database only.
        self._parked: OrderedDict[str, ParkedRun] = OrderedDict()

    # -- public ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the claim loop, the lease renewer, the timer loop and (PostgreSQL) the wake listener."""
        self._listener = self._s.storage.wake_listener(self.hint_remote, self.poll_soon)
        if self._listener is not None:
            self._listener.start()
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="edda-dispatcher"),
            asyncio.create_task(self._renew_loop(), name="edda-lease-renewer"),
            asyncio.create_task(self._timer_loop(), name="edda-timers"),
        ]

    def hint(self, instance_id: str) -> None:
        """Tell the dispatcher an instance became runnable (local start, cancel, resume)."""
        self._hints.append(instance_id)
        self._wakeup.set()

    def hint_remote(self, instance_ids: list[str]) -> None:
        """Another process made these instances runnable (they may run workflows this process lacks)."""
        self._remote_hints.extend(instance_ids)
        self._wakeup.set()

    def poll_soon(self) -> None:
        """Poll for runnable work at once (e.g. after the wake listener reconnected)."""
        self._timer_due = True
        self._wakeup.set()

    def note_timer(self, wake_at: datetime) -> None:
        """Tell the timer loop a local instance now waits until ``wake_at``."""
        if self._next_timer is None or wake_at < self._next_timer:
            self._timers_changed.set()

    def has_capacity(self) -> bool:
        """Whether a local start may be created already leased to this worker.

        Beyond the concurrency limit, up to as many again wait in a local backlog (their leases are
        renewed); past that, starts are stored unleased for whichever worker has room.
        """
        if self._stopping or not self._alive():
            return False
        return len(self._runs) + len(self._backlog) < 2 * self._max

    def adopt(self, claimed: ClaimedInstance) -> None:
        """Run an instance leased to this worker now, or from the backlog when every slot is taken."""
        if self._stopping:  # leased while shutting down (e.g. by a local send): let any worker take it
            self._keep(asyncio.create_task(self._release_quietly(claimed)))
            return
        if claimed.lease.instance_id in self._runs or self._free_slots() > 0:  # a re-claim replaces
            self._spawn(claimed)
        else:
            self._backlog[claimed.lease.instance_id] = claimed

    def owns(self, instance_id: str) -> bool:
        """Whether the instance runs here or waits here in the backlog (its end will be pushed)."""
        return instance_id in self._runs or instance_id in self._backlog

    def request_cancel(self, instance_id: str) -> bool:
        """Flag a locally running instance for cancellation; False if it is not running here."""
        run = self._runs.get(instance_id)
        if run is None:
            return False
        run[1].cancel_requested = True
        return True

    def request_pause(self, instance_id: str, paused: bool) -> bool:
        """Tell a locally running instance it was paused (or unpaused); False if it is not running here."""
        run = self._runs.get(instance_id)
        if run is not None:
            run[1].pause_requested = paused
        return run is not None

    def stop_run(self, instance_id: str) -> None:
        """Its lease was taken away (terminate): the local run, if any, stops before writing anything."""
        run = self._runs.get(instance_id)
        if run is not None:
            run[1].lease_lost = True
        self._backlog.pop(instance_id, None)

    def lapse(self) -> None:
        """This process lapsed (liveness): stop every run at its next step and drop the backlog.

        Their leases are freed when the process revives; until then claims are paused.
        """
        for _, control in self._runs.values():
            control.lease_lost = True
        self._backlog.clear()

    def running_steps(self, instance_id: str) -> tuple[str, ...]:
        """The activities / compensations a run of this process is executing for ``instance_id`` now."""
        run = self._runs.get(instance_id)
        return tuple(run[1].running) if run is not None else ()

    @property
    def running(self) -> frozenset[str]:
        """Ids of instances running in this process."""
        return frozenset(self._runs)

    async def stop(self, timeout: float) -> None:
        """Stop claiming, let running instances finish for up to ``timeout`` s, then cancel the rest.

        Cancelled runs release their leases so another worker can continue at once.
        """
        self._stopping = True
        self._wakeup.set()
        if self._listener is not None:
            await self._listener.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for waiting in list(self._scheduled):  # rate-limited starts not due yet release their leases
            waiting.cancel()
        await asyncio.gather(*self._scheduled, return_exceptions=True)
        backlog, self._backlog = list(self._backlog.values()), {}
        for claimed in backlog:  # never started here: let any worker take them at once
            with contextlib.suppress(Exception):
                await self._s.storage.release_lease(claimed.lease)
        runs = [task for task, _ in self._runs.values()]
        if runs:
            _, pending = await asyncio.wait(runs, timeout=timeout)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- claiming --------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        backoff = 0.05
        while not self._stopping:
            try:
                if not self._alive():  # lapsed: claim nothing until revived (poll_soon wakes us)
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
                    continue
                await self._claim_queued()
                await self._claim_hinted()
                if (self._timer_due or loop.time() >= next_poll) and self._free_slots() > 0:
                    due, self._timer_due = self._timer_due, False
                    self._queue_due = True
                    await self._claim_queued()
                    await self._claim_polled()
                    next_poll = loop.time() + self._poll_interval
                    if due:
                        self._timers_changed.set()  # claimed what was due: look for the next timer
                backoff = 0.05
            except StorageUnavailableError as exc:
                logger.warning(
                    "storage unavailable while claiming work (%s); retrying in %.2fs", exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._poll_interval)
                continue
            timeout = max(0.0, min(next_poll, self._queue_retry or next_poll) - loop.time())
            if (self._hints or self._remote_hints or self._timer_due) and self._free_slots() > 0:
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _free_slots(self) -> int:
        return self._max - len(self._runs)

    async def _claim_queued(self) -> None:
        """Claim queued work (every queue's limits are checked by the database in the claim)."""
        flow = self._s.flow
        if flow is None or not flow.has_queues or self._free_slots() <= 0:
            return
        loop = asyncio.get_running_loop()
        retry_due = self._queue_retry is not None and loop.time() >= self._queue_retry
        if not (self._queue_due or retry_due or self._hints or self._remote_hints):
            return
        self._queue_due = False
        batch = await flow.claim(
            self._s.worker_id, self._s.lease_ttl, self._free_slots(), self._s.catalog.names()
        )
        self._queue_retry = None
        if batch.retry_at is not None:
            self._queue_retry = loop.time() + max(0.0, (batch.retry_at - self._s.clock.now()).total_seconds())
        for one in batch.claimed:
            at = batch.start_at.get(one.lease.instance_id)
            if at is None:
                self.adopt(one)
            else:  # a rate-limited start granted for a moment ahead: run it then
                task = asyncio.create_task(self._adopt_at(one, at))
                self._scheduled.add(task)
                task.add_done_callback(self._scheduled.discard)

    async def _adopt_at(self, claimed: ClaimedInstance, at: datetime) -> None:
        try:
            await self._s.clock.sleep(max(0.0, (at - self._s.clock.now()).total_seconds()))
        except asyncio.CancelledError:  # shutting down: let any worker take it at once
            await self._release_quietly(claimed)
            raise
        self.adopt(claimed)

    async def _claim_hinted(self) -> None:
        """Claim hinted instances (local wake-ups, NOTIFY from other processes) in one statement per batch."""
        names = self._s.catalog.names()
        while (self._hints or self._remote_hints) and self._free_slots() > 0:
            batch, announced_running = self._take_hints(self._free_slots())
            for instance_id in announced_running:
                # Running here and announced by another process: most likely a cancel request made
                # there; look at the stored flag now rather than at the next lease renewal.
                await self._check_cancelled(instance_id)
            if not batch:
                continue
            claimed = await self._s.storage.claim_these(
                batch, self._s.worker_id, self._s.clock.now(), self._s.lease_ttl, names
            )
            for one in claimed:
                self.adopt(one)  # a local start may have taken the slot while we claimed
        while self._remote_hints and self._remote_hints[0] in self._runs:  # no free slot needed for these
            await self._check_cancelled(self._remote_hints.popleft())

    def _take_hints(self, limit: int) -> tuple[list[str], list[str]]:
        """Up to ``limit`` distinct hinted ids not running here, and remote hints for runs already here."""
        batch: list[str] = []
        running: list[str] = []
        for queue, remote in ((self._hints, False), (self._remote_hints, True)):
            while queue and len(batch) < limit:
                instance_id = queue.popleft()
                if instance_id in self._runs:
                    if remote:
                        running.append(instance_id)
                elif instance_id not in self._backlog and instance_id not in batch:
                    batch.append(instance_id)
        return batch, running

    async def _check_cancelled(self, instance_id: str) -> None:
        record = await self._s.storage.get_instance(instance_id)
        run = self._runs.get(instance_id)
        if record is not None and run is not None:
            run[1].cancel_requested = run[1].cancel_requested or record.cancel_requested
            run[1].pause_requested = record.paused  # paused / unpaused by another process

    async def _claim_polled(self) -> None:
        names = self._s.catalog.names()
        if not names:
            return
        claimed_list = await self._s.storage.claim_runnable(
            self._s.worker_id, self._s.clock.now(), self._s.lease_ttl, self._free_slots(), names
        )
        for claimed in claimed_list:
            self.adopt(claimed)  # queued if local starts filled the slots meanwhile

    def _spawn(self, claimed: ClaimedInstance) -> None:
        instance_id = claimed.lease.instance_id
        if claimed.instance.workflow_name not in self._s.catalog:
            # Claimed by id (hint) but this process does not have the code: give it back.
            logger.warning(
                "instance %s runs unknown workflow %r here; releasing",
                instance_id,
                claimed.instance.workflow_name,
            )
            self._keep(asyncio.create_task(self._s.storage.release_lease(claimed.lease)))
            return
        previous = self._runs.get(instance_id)
        if previous is not None:
            # Our own earlier run's lease expired and was claimed again (e.g. a test clock jumped past
            # it): the epoch moved on, so that run can no longer write; make it stop at once.
            previous[1].lease_lost = True
        self._observe_claim(claimed)
        control = RunControl(alive=self._alive)
        known = self._parked.pop(instance_id, None)
        history = known.history if known is not None and known.epoch + 1 == claimed.lease.epoch else None
        task = asyncio.create_task(self._run(claimed, control, history), name=f"edda-run-{instance_id}")
        self._runs[instance_id] = (task, control)

    def _observe_claim(self, claimed: ClaimedInstance) -> None:
        workflow = claimed.instance.workflow_name
        if claimed.took_over_crashed:
            self._s.observers.lease_taken_over(workflow)
        if claimed.woke_from is not None:
            late = (self._s.clock.now() - claimed.woke_from).total_seconds()
            if late >= 0:  # a cancel claims a waiting instance before its due time: not a wake-up
                self._s.observers.woke_up(workflow, late)

    @property
    def capacity(self) -> int:
        """How many instances this process runs at once at most (``max_concurrent_runs``)."""
        return self._max

    def _start_backlog(self) -> None:
        while self._backlog and self._free_slots() > 0 and not self._stopping:
            claimed = self._backlog.pop(next(iter(self._backlog)))  # oldest first
            if claimed.lease.instance_id not in self._runs:
                self._spawn(claimed)

    async def _run(
        self, claimed: ClaimedInstance, control: RunControl, history: list[HistoryEntry] | None
    ) -> None:
        instance_id = claimed.lease.instance_id
        runner = InstanceRunner(self._s, claimed, control, history)
        try:
            await runner.run()
            if runner.parked_history is not None:
                parked = ParkedRun(runner.lease_epoch, runner.parked_history, runner.parked_wait)
                self._remember_parked(instance_id, parked)
            if runner.parked_until is not None:
                self.note_timer(runner.parked_until)
                if control.cancel_requested:  # cancelled while parking: the stored wake-up is now
                    self.hint(instance_id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._s.storage.release_lease(claimed.lease))
            raise
        except StorageUnavailableError as exc:
            logger.warning("storage unavailable while running %s (%s); it will be resumed", instance_id, exc)
            self._keep(asyncio.create_task(self._give_back(claimed)))
        except Exception:
            # The runner parks the instance after an engine error; this is an error while parking it.
            # Releasing would re-claim it at once (a tight loop): let its lease expire instead.
            logger.exception("engine error while running %s; it resumes once its lease expires", instance_id)
        finally:
            current = self._runs.get(instance_id)
            if current is not None and current[1] is control:  # a newer run may have replaced it
                del self._runs[instance_id]
            if claimed.instance.queue_name is not None:  # a queue slot came free: here and elsewhere
                self._queue_due = True
                self._keep(asyncio.create_task(self._announce_slot(instance_id)))
            self._start_backlog()
            self._wakeup.set()
            self._on_run_finished(instance_id, runner.final_record)

    def parked_here(self, instance_id: str) -> ParkedRun | None:
        """How this process parked the instance (epoch, history, wait), if it did and still remembers."""
        return self._parked.get(instance_id)

    def note_handoff(self, instance_id: str, entry: HistoryEntry) -> None:
        """A local send recorded the end of the instance's wait: add it to the remembered history."""
        parked = self._parked.get(instance_id)
        if parked is not None:
            self._parked[instance_id] = dataclasses.replace(parked, history=[*parked.history, entry])

    def _remember_parked(self, instance_id: str, parked: ParkedRun) -> None:
        self._parked[instance_id] = parked
        self._parked.move_to_end(instance_id)
        while len(self._parked) > PARKED_HISTORY_CACHE:
            self._parked.popitem(last=False)

    async def _announce_slot(self, instance_id: str) -> None:
        """Wake other processes' queue claims (PostgreSQL NOTIFY); otherwise their poll finds the slot."""
        with contextlib.suppress(Exception):  # best effort: the fallback poll covers a failure
            await self._s.storage.messaging().announce((instance_id,))

    async def _release_quietly(self, claimed: ClaimedInstance) -> None:
        with contextlib.suppress(Exception):  # if this fails too, the lease simply expires
            await self._s.storage.release_lease(claimed.lease)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _give_back(self, claimed: ClaimedInstance) -> None:
        """After a storage outage, release the lease once the database answers, then run it again.

        Releasing (rather than letting the lease expire) resumes the instance as soon as the database
        is back, and does not count the outage as a crash of this worker.
        """
        delay = 0.05
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._s.lease_ttl.total_seconds()
        while not self._stopping and loop.time() < give_up:
            try:
                await self._s.storage.release_lease(claimed.lease)
            except StorageUnavailableError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._poll_interval)
                continue
            self.hint(claimed.lease.instance_id)
            return

    # -- timers ----------------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        """Sleep until the earliest stored wake-up, then have the claim loop claim what is due."""
        backoff = 0.05
        last_due: datetime | None = None
        while not self._stopping:
            self._timers_changed.clear()  # before reading, so a park during the read is not missed
            try:
                wake_at = await self._s.storage.next_wake_at(self._s.catalog.names())
            except StorageUnavailableError as exc:
                logger.warning(
                    "storage unavailable while reading timers (%s); retrying in %.2fs", exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._poll_interval)
                continue
            backoff = 0.05
            self._next_timer = wake_at
            delay = None if wake_at is None else (wake_at - self._s.clock.now()).total_seconds()
            if delay is not None and delay <= 0:
                if wake_at == last_due:  # still there after a claim (no capacity, or not claimable)
                    await asyncio.sleep(self._poll_interval)
                last_due = wake_at
                self._timer_due = True
                self._wakeup.set()
                delay = None  # wait for the claim loop to report back (or the poll interval)
            await self._wait_for_timer(delay)

    async def _wait_for_timer(self, delay: float | None) -> None:
        """Wait ``delay`` seconds of clock time (None: no clock wait), a local park, or ``poll_interval``."""
        await sleep_or_event(self._s.clock, self._timers_changed, delay, self._poll_interval)

    # -- leases ----------------------------------------------------------------------------
    async def _renew_loop(self) -> None:
        interval = max(0.05, self._s.lease_ttl.total_seconds() / 3)
        while not self._stopping:
            await asyncio.sleep(interval)
            # a run that lost its lease (or stopped in a lapse) must not hold on to it
            ids = [iid for iid, (_, control) in self._runs.items() if not control.lease_lost]
            ids += list(self._backlog)
            if not ids:
                continue
            try:
                renewal = await self._s.storage.renew_leases(
                    self._s.worker_id, ids, self._s.clock.now(), self._s.lease_ttl
                )
            except StorageUnavailableError as exc:
                logger.warning("could not renew leases: %s", exc)
                continue
            for instance_id in ids:
                if instance_id in self._backlog and instance_id not in renewal.held:
                    del self._backlog[instance_id]  # taken over elsewhere: not ours to start any more
                run = self._runs.get(instance_id)
                if run is None:
                    continue
                if instance_id not in renewal.held:
                    run[1].lease_lost = True
                else:
                    run[1].cancel_requested = (
                        run[1].cancel_requested or instance_id in renewal.cancel_requested
                    )
                    run[1].pause_requested = instance_id in renewal.paused

    @property
    def poll_interval(self) -> float:
        """Seconds between fallback polls (and re-reads of the earliest timer)."""
        return self._poll_interval
