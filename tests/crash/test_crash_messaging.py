"""SIGKILL crash recovery of durable waits and messaging.

Covered: a durable timer (killed after it fired / while parked on it); competing channel consumers
(killed while one processes a taken message / at an arbitrary point) with and without ``ctx.recur``;
a producer workflow killed between journaled ``publish``/``send_to`` calls; events sent while no worker
runs (addressed and by type); by-type delivery after ``wait_first``; parent and child workflows.

Each test runs real worker subprocesses (see :mod:`tests.crash.support`) on every backend, kills one
with SIGKILL at a chosen point, lets a fresh process recover, and proves from the stored history and
the side-effect log that every wait was recorded exactly once, every message/event was delivered to
exactly one workflow exactly once, and nothing is left unfinished or leased.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from durable_core import EddaApp, HistoryEntry, InstanceStatus, StepKind, StepOutcome
from tests.crash.programs.workflows import (
    FIRST_EVENT,
    GO_EVENT,
    JOBS_CHANNEL,
    LATE_EVENT,
    SLOW_EVENT,
    STOP_JOB,
)
from tests.crash.support import (
    EffectLog,
    WorkerPool,
    assert_nothing_stranded,
    client,
    records,
    wait_all_finished,
    wait_until,
)


def _kinds(history: list[HistoryEntry]) -> list[StepKind]:
    return [e.kind for e in history]


def _wait_data(entry: HistoryEntry) -> Any:
    """The message/event data a WAIT entry recorded (JSON payloads: ``{"index", "metadata", "data"}``)."""
    assert entry.kind is StepKind.WAIT and entry.outcome is StepOutcome.OK, entry
    value = entry.result.json_value
    assert isinstance(value, dict) and "data" in value, entry
    return value["data"]


def _wait_metadata(entry: HistoryEntry) -> dict[str, Any]:
    """The CloudEvents/channel attributes a WAIT entry recorded."""
    value = entry.result.json_value
    assert isinstance(value, dict), entry
    metadata = value.get("metadata")
    assert isinstance(metadata, dict), entry
    return dict(metadata)


async def _all_waiting(app: EddaApp, ids: list[str], *, channel: str = "", event: str = "") -> bool:
    """Every instance is parked (WAITING, no lease) on ``channel`` / ``event``."""
    found = await records(app, ids)
    if len(found) != len(ids):
        return False
    for iid in ids:
        record = found[iid]
        if record.status is not InstanceStatus.WAITING or record.lease_owner is not None:
            return False
        info = await app.get_wait(iid)
        if info is None:
            return False
        if channel and info.channels != (channel,):
            return False
        if event and info.event_types != (event,):
            return False
    return True


# -- 1. durable timer ------------------------------------------------------------------------------
NAP_IDS = [f"nap-{i}" for i in range(3)]


async def _start_nappers(app: EddaApp, seconds: float) -> None:
    for iid in NAP_IDS:
        await app.start("napper", {"n": int(iid.rsplit("-", 1)[1]), "seconds": seconds}, instance_id=iid)


def _assert_not_early(history: list[HistoryEntry], seconds: float) -> None:
    """The TIMER (position 2) was recorded at least ``seconds`` after the sleep's recorded ``now``."""
    slept_from, fired_at = history[1].result.json_value, history[2].recorded_at
    assert isinstance(slept_from, str) and fired_at is not None, history
    assert fired_at - datetime.fromisoformat(slept_from) >= timedelta(seconds=seconds), "timer fired early"


async def _assert_nappers_completed(
    app: EddaApp, effects: EffectLog, workers: WorkerPool, seconds: float
) -> None:
    """Every napper COMPLETED; its timer recorded once, not before it was due; nap_a ran once."""
    final = await wait_all_finished(app, NAP_IDS, workers)
    counts = effects.counts()
    for iid in NAP_IDS:
        n = int(iid.rsplit("-", 1)[1])
        assert final[iid].status is InstanceStatus.COMPLETED, (iid, final[iid].status, final[iid].error)
        assert await app.wait_result(iid, timeout=5) == [f"nap_a:{n}", f"nap_b:{n}"]
        history = await app.get_history(iid)
        assert _kinds(history) == [StepKind.ACTIVITY, StepKind.NOW, StepKind.TIMER, StepKind.ACTIVITY], (
            history
        )
        assert Counter(_kinds(history))[StepKind.TIMER] == 1, "the timer must be recorded exactly once"
        _assert_not_early(history, seconds)
        assert counts["start", iid, "nap_a"] == 1, "nap_a ran before the sleep and must never re-run"
        assert counts["done", iid, "nap_a"] == 1
        assert counts["done", iid, "nap_b"] == 1
    await assert_nothing_stranded(app)


async def test_killed_after_a_timer_fired(db_url: str, workers: WorkerPool, effects: EffectLog) -> None:
    """SIGKILL after the timer fired and was recorded, while the step after it runs.

    Recovery replays ``nap_a`` and the TIMER from history (neither runs or fires again) and re-runs only
    the interrupted ``nap_b`` (attempt 2).
    """
    async with client(db_url) as app:
        first = await workers.spawn("--hold", "nap_b")
        await _start_nappers(app, 0.5)

        async def all_in_b() -> bool:
            counts = effects.counts()
            return all(counts["start", iid, "nap_b"] == 1 for iid in NAP_IDS)

        await wait_until(all_in_b, "every instance woke up and is inside nap_b", explain=workers.diagnostics)
        before = await records(app, NAP_IDS)
        for iid in NAP_IDS:
            assert before[iid].status is InstanceStatus.RUNNING
            assert before[iid].lease_owner == first.worker_id
            history = await app.get_history(iid)
            assert _kinds(history) == [StepKind.ACTIVITY, StepKind.NOW, StepKind.TIMER], history
            _assert_not_early(history, 0.5)
        await first.kill()

        second = await workers.spawn()
        await _assert_nappers_completed(app, effects, workers, 0.5)
        counts = effects.counts()
        for iid in NAP_IDS:
            assert counts["start", iid, "nap_b"] == 2  # interrupted once, completed once
            assert effects.attempts("start", iid, "nap_b") == [1, 2]
            done_b = [
                e for e in effects.read() if (e.event, e.instance_id, e.label) == ("done", iid, "nap_b")
            ]
            assert [e.pid for e in done_b] == [second.pid]
        await second.stop()
        second.assert_no_engine_errors()


async def test_timer_fires_after_the_sleeping_worker_died(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    """SIGKILL while the instances sleep (parked in the database): a new worker fires each timer once."""
    async with client(db_url) as app:
        first = await workers.spawn()
        await _start_nappers(app, 3.0)

        async def all_asleep() -> bool:
            if not await _all_waiting(app, NAP_IDS):
                return False
            histories = [_kinds(await app.get_history(iid)) for iid in NAP_IDS]
            return all(kinds == [StepKind.ACTIVITY, StepKind.NOW] for kinds in histories)

        await wait_until(all_asleep, "every instance is parked in its sleep", explain=workers.diagnostics)
        await first.kill()
        for iid in NAP_IDS:  # killed before any timer was due: nothing fired yet
            assert _kinds(await app.get_history(iid)) == [StepKind.ACTIVITY, StepKind.NOW]
            info = await app.get_wait(iid)
            assert info is not None and info.wake_at is not None
        assert all(e.label != "nap_b" for e in effects.read())

        second = await workers.spawn()
        await _assert_nappers_completed(app, effects, workers, 3.0)
        counts = effects.counts()
        for iid in NAP_IDS:
            assert counts["start", iid, "nap_b"] == 1
        await second.stop()
        second.assert_no_engine_errors()


# -- 2. competing consumers --------------------------------------------------------------------------
CONSUMER_IDS = [f"consumer-{i}" for i in range(3)]
JOBS_BEFORE = [f"job-{k}" for k in range(9)]  # published while the first worker runs
JOBS_WHILE_DEAD = [f"job-{k}" for k in range(9, 12)]  # published while no worker runs
HELD_JOB = "job-4"
RECUR = pytest.mark.parametrize("recur", [True, False], ids=["recur", "loop"])


async def _start_consumers(app: EddaApp, workers: WorkerPool, recur: bool) -> None:
    for iid in CONSUMER_IDS:
        await app.start("job_consumer", {"n": int(iid.rsplit("-", 1)[1]), "recur": recur}, instance_id=iid)
    await wait_until(
        lambda: _all_waiting(app, CONSUMER_IDS, channel=JOBS_CHANNEL),
        "every consumer subscribed and waits for a job",
        explain=workers.diagnostics,
    )


async def _finish_consumers(
    app: EddaApp, workers: WorkerPool, effects: EffectLog, all_jobs: list[str], recur: bool
) -> dict[str, list[str]]:
    """Wait until every job was processed, stop the consumers, check delivery; return their results.

    Proves: every job was recorded by exactly one consumer, once (none lost, none duplicated); its
    side effect ran only in that consumer; the journal of each consumer matches what it returned.
    """

    async def all_jobs_done() -> bool:
        done = {job for (event, _, job) in effects.counts() if event == "done"}
        return set(all_jobs) <= done

    await wait_until(all_jobs_done, "every job was processed after recovery", explain=workers.diagnostics)
    await wait_until(
        lambda: _all_waiting(app, CONSUMER_IDS, channel=JOBS_CHANNEL),
        "every consumer waits for more jobs",
        explain=workers.diagnostics,
    )
    for _ in CONSUMER_IDS:
        await app.publish(JOBS_CHANNEL, {"job": STOP_JOB})
    final = await wait_all_finished(app, CONSUMER_IDS, workers)

    results: dict[str, list[str]] = {}
    for iid in CONSUMER_IDS:
        assert final[iid].status is InstanceStatus.COMPLETED, (iid, final[iid].status, final[iid].error)
        results[iid] = await app.wait_result(iid, timeout=5)
    delivered = Counter(job for jobs in results.values() for job in jobs)
    duplicated = sorted(job for job, c in delivered.items() if c > 1)
    assert not duplicated, f"jobs recorded by more than one consumer / twice: {duplicated} in {results}"
    assert sorted(delivered) == sorted(all_jobs), f"lost jobs: {set(all_jobs) - set(delivered)}"

    log = effects.read()
    for job in all_jobs:
        owner = next(iid for iid, jobs in results.items() if job in jobs)
        touched = {e.instance_id for e in log if e.label == job}
        assert touched == {owner}, f"{job} (recorded by {owner}) was processed by {touched}"
        assert any((e.event, e.label) == ("done", job) for e in log)

    for iid in CONSUMER_IDS:
        history = await app.get_history(iid)
        waits = [_wait_data(e)["job"] for e in history if e.kind is StepKind.WAIT]
        steps = [e for e in history if e.kind is StepKind.ACTIVITY]
        assert all(e.outcome is StepOutcome.OK for e in steps), history
        if recur:  # the last run only received the stop (earlier runs were archived by recur)
            assert waits == [STOP_JOB] and steps == [], history
        else:  # one run: every job it took, in order, then the stop; each processed once
            assert waits == [*results[iid], STOP_JOB], history
            assert [s.result.json_value for s in steps] == results[iid], history
    await assert_nothing_stranded(app)
    return results


@RECUR
async def test_killed_while_a_consumer_processes_a_competing_message(
    db_url: str, workers: WorkerPool, effects: EffectLog, recur: bool
) -> None:
    """SIGKILL while one consumer processes a message it took from a competing queue.

    The taken message is in that consumer's history; recovery re-runs its processing there (attempt 2)
    and never hands it to another consumer. Messages published while no worker runs are delivered after
    restart. Every job is recorded by exactly one consumer and its side effect completed exactly once.
    """
    async with client(db_url) as app:
        first = await workers.spawn("--hold", HELD_JOB)
        await _start_consumers(app, workers, recur)
        for job in JOBS_BEFORE:
            await app.publish(JOBS_CHANNEL, {"job": job})

        def holder_id() -> str:
            started = [e.instance_id for e in effects.read() if (e.event, e.label) == ("start", HELD_JOB)]
            assert len(started) <= 1, f"{HELD_JOB} started by several consumers: {started}"
            return started[0] if started else ""

        async def quiescent() -> bool:
            """The held job is being processed; every other job is done; the other consumers wait."""
            holder = holder_id()
            if not holder:
                return False
            counts = effects.counts()
            done = {job for (event, _, job), c in counts.items() if event == "done" and c}
            if done != set(JOBS_BEFORE) - {HELD_JOB}:
                return False
            others = [iid for iid in CONSUMER_IDS if iid != holder]
            return await _all_waiting(app, others, channel=JOBS_CHANNEL)

        await wait_until(
            quiescent, f"{HELD_JOB} is held and every other job is done", explain=workers.diagnostics
        )
        holder = holder_id()
        held_record = (await records(app, [holder]))[holder]
        assert held_record.status is InstanceStatus.RUNNING and held_record.lease_owner == first.worker_id
        held_history = await app.get_history(holder)
        assert held_history[-1].kind is StepKind.WAIT, held_history
        assert _wait_data(held_history[-1]) == {"job": HELD_JOB}, "the held job must already be recorded"
        await first.kill()

        for job in JOBS_WHILE_DEAD:
            await app.publish(JOBS_CHANNEL, {"job": job})
        second = await workers.spawn()
        results = await _finish_consumers(app, workers, effects, JOBS_BEFORE + JOBS_WHILE_DEAD, recur)
        assert HELD_JOB in results[holder], "the job taken before the crash must stay with its consumer"

        log = effects.read()
        for job in JOBS_BEFORE + JOBS_WHILE_DEAD:
            done = [e for e in log if (e.event, e.label) == ("done", job)]
            starts = [e for e in log if (e.event, e.label) == ("start", job)]
            assert len(done) == 1, f"{job}: side effect completed {len(done)} times: {done}"
            if job == HELD_JOB:
                assert [e.attempt for e in starts] == [1, 2] and done[0].pid == second.pid, starts
            else:
                assert len(starts) == 1, f"{job} processed again although its result was recorded: {starts}"
        await second.stop()
        second.assert_no_engine_errors()


@RECUR
async def test_consumers_killed_mid_stream(
    db_url: str, workers: WorkerPool, effects: EffectLog, recur: bool
) -> None:
    """SIGKILL at an arbitrary point while three consumers drain a queue (takes, steps, recurs in flight).

    Side effects may repeat (a step interrupted before its result was recorded runs again), but
    delivery into workflows is exactly once: no job is recorded by two consumers or lost.
    """
    jobs = [f"job-{k}" for k in range(30)]
    async with client(db_url) as app:
        first = await workers.spawn()
        await _start_consumers(app, workers, recur)
        for job in jobs[:20]:
            await app.publish(JOBS_CHANNEL, {"job": job})

        def done_count() -> int:
            return sum(1 for e in effects.read() if e.event == "done")

        await wait_until(
            lambda: done_count() >= 4, "consumers are draining the queue", explain=workers.diagnostics
        )
        await first.kill()
        for job in jobs[20:]:
            await app.publish(JOBS_CHANNEL, {"job": job})

        second = await workers.spawn()
        await _finish_consumers(app, workers, effects, jobs, recur)
        log = effects.read()
        for job in jobs:  # a job's side effect ran again only if the killed worker had started it
            runs = [e for e in log if (e.event, e.label) == ("start", job)]
            assert len(runs) == 1 or runs[0].pid == first.pid, runs
        await second.stop()
        second.assert_no_engine_errors()


async def test_producer_killed_between_journaled_publishes(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    """SIGKILL a producer workflow between two batches of journaled ``publish`` / ``send_to`` calls.

    Recovery replays the recorded sends (they are not sent again) and sends the rest: every job reaches
    exactly one consumer once, the direct ones the addressed consumer, and the producer's message ids
    are its history positions.
    """
    producer = "producer-0"
    first_half = [f"p0-{i}" for i in range(4)] + ["p0-d0"]
    second_half = [f"p0-{i}" for i in range(4, 8)] + ["p0-d1"]
    async with client(db_url) as app:
        first = await workers.spawn("--hold", "prod_mid")
        await _start_consumers(app, workers, recur=False)
        await app.start(
            "job_producer", {"n": 0, "count": 8, "direct_to": CONSUMER_IDS[0]}, instance_id=producer
        )

        async def quiescent() -> bool:
            counts = effects.counts()
            if counts["start", producer, "prod_mid"] != 1:
                return False
            done = {job for (event, _, job), c in counts.items() if event == "done" and job.startswith("p0-")}
            return done == set(first_half) and await _all_waiting(app, CONSUMER_IDS, channel=JOBS_CHANNEL)

        await wait_until(
            quiescent,
            "the first batch is consumed and the producer is in prod_mid",
            explain=workers.diagnostics,
        )
        assert _kinds(await app.get_history(producer)) == [StepKind.SEND] * 5
        await first.kill()

        second = await workers.spawn()
        await wait_all_finished(app, [producer], workers)
        results = await _finish_consumers(app, workers, effects, first_half + second_half, recur=False)
        assert {"p0-d0", "p0-d1"} <= set(results[CONSUMER_IDS[0]]), "send_to must reach its target only"
        positions = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]  # position 5 is prod_mid
        assert await app.wait_result(producer, timeout=5) == [f"{producer}:{p}" for p in positions]
        history = await app.get_history(producer)
        assert _kinds(history) == [StepKind.SEND] * 5 + [StepKind.ACTIVITY] + [StepKind.SEND] * 5, history
        assert effects.attempts("start", producer, "prod_mid") == [1, 2]
        counts = effects.counts()
        for job in first_half + second_half:
            done = sum(c for (event, _, label), c in counts.items() if (event, label) == ("done", job))
            assert done == 1, f"{job} processed {done} times"
        await second.stop()
        second.assert_no_engine_errors()


# -- 3. addressed events -----------------------------------------------------------------------------
EVENT_IDS = [f"evt-{i}" for i in range(3)]


@pytest.mark.parametrize(
    ("kill_at", "second_event"),
    [("waiting", "addressed"), ("waiting", "by_type"), ("before_wait", "addressed")],
    ids=["parked-addressed", "parked-by-type", "before-wait-addressed"],
)
async def test_events_sent_while_no_worker_runs(
    db_url: str, workers: WorkerPool, effects: EffectLog, kill_at: str, second_event: str
) -> None:
    """Events sent while the only worker is dead are each received exactly once after a restart.

    The first worker is killed while the instances wait for ``crash.go`` (``waiting``), or while they
    are still inside the step before the wait (``before_wait``: the addressed events must wait in the
    mailbox). With no worker alive, each instance gets an addressed event, then a second one: addressed
    too, or one by-type event (it reaches every instance parked on that type, also with no worker up).
    A second worker takes both (recorded in order) and is killed inside the next step; a third
    finishes. The events are never taken again, so each instance returns them once, in order.
    """
    async with client(db_url) as app:
        first = await workers.spawn(*(["--hold", "ev_a"] if kill_at == "before_wait" else []))
        for iid in EVENT_IDS:
            await app.start("event_waiter", {"n": int(iid.rsplit("-", 1)[1])}, instance_id=iid)
        if kill_at == "waiting":
            await wait_until(
                lambda: _all_waiting(app, EVENT_IDS, event=GO_EVENT),
                "every instance waits for its event",
                explain=workers.diagnostics,
            )
        else:
            await wait_until(
                lambda: all(effects.counts()["start", iid, "ev_a"] == 1 for iid in EVENT_IDS),
                "every instance is inside ev_a",
                explain=workers.diagnostics,
            )
        await first.kill()

        sent: dict[str, list[str]] = {}
        expected: dict[str, list[str]] = {}
        for iid in EVENT_IDS:
            sent[iid] = [await app.send_event(GO_EVENT, "crash-test", {"k": f"{iid}/1"}, instance_id=iid)]
            expected[iid] = [f"{iid}/1"]
            if second_event == "addressed":
                sent[iid].append(
                    await app.send_event(GO_EVENT, "crash-test", {"k": f"{iid}/2"}, instance_id=iid)
                )
                expected[iid].append(f"{iid}/2")
        if second_event == "by_type":
            broadcast_id = await app.send_event(GO_EVENT, "crash-test", {"k": "everyone"})
            for iid in EVENT_IDS:
                sent[iid].append(broadcast_id)
                expected[iid].append("everyone")
        before = await records(app, EVENT_IDS)
        for iid in EVENT_IDS:  # nobody runs them: the events wait in their mailboxes
            status = InstanceStatus.WAITING if kill_at == "waiting" else InstanceStatus.RUNNING
            assert before[iid].status is status, (iid, before[iid].status)
            assert _kinds(await app.get_history(iid)) == ([StepKind.ACTIVITY] if kill_at == "waiting" else [])

        second = await workers.spawn("--hold", "ev_b")

        async def all_in_b() -> bool:
            counts = effects.counts()
            return all(counts["start", iid, "ev_b"] == 1 for iid in EVENT_IDS)

        await wait_until(
            all_in_b, "every instance took its events and is inside ev_b", explain=workers.diagnostics
        )
        for iid in EVENT_IDS:
            history = await app.get_history(iid)
            assert _kinds(history) == [StepKind.ACTIVITY, StepKind.WAIT, StepKind.WAIT], history
            assert [_wait_metadata(e)["id"] for e in history[1:]] == sent[iid]
        await second.kill()

        third = await workers.spawn()
        final = await wait_all_finished(app, EVENT_IDS, workers)
        counts = effects.counts()
        for iid in EVENT_IDS:
            assert final[iid].status is InstanceStatus.COMPLETED, (iid, final[iid].status, final[iid].error)
            assert await app.wait_result(iid, timeout=5) == expected[iid]
            history = await app.get_history(iid)
            assert _kinds(history) == [StepKind.ACTIVITY, StepKind.WAIT, StepKind.WAIT, StepKind.ACTIVITY]
            assert [_wait_metadata(e)["id"] for e in history[1:3]] == sent[iid], (
                "each event taken once, in order"
            )
            assert [_wait_data(e)["k"] for e in history[1:3]] == expected[iid]
            assert effects.attempts("start", iid, "ev_a") == ([1] if kill_at == "waiting" else [1, 2])
            assert counts["done", iid, "ev_a"] == 1
            assert effects.attempts("start", iid, "ev_b") == [1, 2]
            assert counts["done", iid, "ev_b"] == 1
        await assert_nothing_stranded(app)
        await third.stop()
        third.assert_no_engine_errors()


# -- 4. by-type events and the losing alternative of wait_first ---------------------------------------
RACE_IDS = [f"race-{i}" for i in range(3)]


async def test_by_type_event_while_dead_reaches_only_waiting_instances(
    db_url: str, workers: WorkerPool, effects: EffectLog
) -> None:
    """A by-type event sent while the worker is dead goes only to instances waiting for its type.

    The instances wait for ``wait_first(crash.first, crash.late)``; ``crash.first`` wins, and the worker
    is killed inside the next step (the instances wait for nothing). A ``crash.late`` event by type sent
    now must not be kept for them (docs: it reaches the instances waiting for that type when it is
    committed). After recovery they wait for ``crash.late`` and receive only the fresh one.
    """
    async with client(db_url) as app:
        first = await workers.spawn("--hold", "fl_mid")
        for iid in RACE_IDS:
            await app.start("first_then_late", {"n": int(iid.rsplit("-", 1)[1])}, instance_id=iid)

        async def racing() -> bool:
            infos = [await app.get_wait(iid) for iid in RACE_IDS]
            return all(i is not None and set(i.event_types) == {FIRST_EVENT, LATE_EVENT} for i in infos)

        await wait_until(
            racing, "every instance waits for the first of two events", explain=workers.diagnostics
        )
        await app.send_event(FIRST_EVENT, "crash-test", "first")
        await wait_until(
            lambda: all(effects.counts()["start", iid, "fl_mid"] == 1 for iid in RACE_IDS),
            "every instance took crash.first and is inside fl_mid",
            explain=workers.diagnostics,
        )
        for iid in RACE_IDS:
            assert await app.get_wait(iid) is None  # running fl_mid: waiting for nothing
        await first.kill()
        await app.send_event(LATE_EVENT, "crash-test", "stale")  # nobody waits for crash.late now

        second = await workers.spawn()

        async def settled() -> bool:
            found = await records(app, RACE_IDS)
            for iid in RACE_IDS:
                if found[iid].status is InstanceStatus.COMPLETED:
                    continue
                info = await app.get_wait(iid)
                if info is None or info.event_types != (LATE_EVENT,):
                    return False
            return True

        await wait_until(
            settled, "every instance waits for crash.late (or finished)", explain=workers.diagnostics
        )
        early = {
            iid: await app.wait_result(iid, timeout=5)
            for iid, r in (await records(app, RACE_IDS)).items()
            if r.status is InstanceStatus.COMPLETED
        }
        assert not early, (
            "BUG (see /work/notes/bugs-crash.md): a crash.late event sent by type while these instances "
            f"waited for nothing was kept for them and taken by a later wait_event: {early}. wait_first "
            "leaves the wait rows of its losing alternatives in edda_waits, so by-type delivery still "
            "treats the instance as waiting for them."
        )
        await app.send_event(LATE_EVENT, "crash-test", "fresh")
        final = await wait_all_finished(app, RACE_IDS, workers)
        for iid in RACE_IDS:
            assert final[iid].status is InstanceStatus.COMPLETED, (iid, final[iid].status, final[iid].error)
            assert await app.wait_result(iid, timeout=5) == ["0", "fresh"]
            assert effects.attempts("start", iid, "fl_mid") == [1, 2]
            assert effects.counts()["done", iid, "fl_mid"] == 1
        await assert_nothing_stranded(app)
        await second.stop()
        second.assert_no_engine_errors()


# -- 5. child workflows ------------------------------------------------------------------------------
PARENT_IDS = [f"parent-{i}" for i in range(3)]


@pytest.mark.parametrize("held", ["ch_work", "pa_mid"], ids=["in-child", "in-parent"])
async def test_parent_and_child_killed(
    db_url: str, workers: WorkerPool, effects: EffectLog, held: str
) -> None:
    """SIGKILL while the child runs (parent parked on it), or while the parent runs after the child ended.

    ``in-child``: recovery finishes the child, whose end wakes the parked parent. ``in-parent``: the
    child's end was delivered to the parent's mailbox while the parent was busy; recovery replays the
    recorded start (no second child) and the parent takes that end. Either way one child per parent,
    each step completed once, and the parent returns the child's result.
    """
    async with client(db_url) as app:
        first = await workers.spawn("--hold", held)
        for iid in PARENT_IDS:
            await app.start("parent_job", {"n": int(iid.rsplit("-", 1)[1])}, instance_id=iid)

        async def ready_to_kill() -> bool:
            counts = effects.counts()
            if held == "pa_mid":  # parents inside pa_mid, children finished
                children = await app.list_instances(
                    workflow_name="child_job", status=InstanceStatus.COMPLETED
                )
                return len(children) == len(PARENT_IDS) and all(
                    counts["start", iid, "pa_mid"] == 1 for iid in PARENT_IDS
                )
            children_busy = sum(
                c for (event, _, label), c in counts.items() if (event, label) == ("start", "ch_work")
            )
            if children_busy != len(PARENT_IDS):
                return False
            infos = [await app.get_wait(iid) for iid in PARENT_IDS]
            return all(info is not None and len(info.children) == 1 for info in infos)

        await wait_until(ready_to_kill, f"every instance is inside {held}", explain=workers.diagnostics)
        await first.kill()

        second = await workers.spawn()
        final = await wait_all_finished(app, PARENT_IDS, workers)
        children = {c.parent_instance_id: c for c in await app.list_instances(workflow_name="child_job")}
        assert len(children) == len(PARENT_IDS) == len(await app.list_instances(workflow_name="child_job"))
        counts = effects.counts()
        for iid in PARENT_IDS:
            n = int(iid.rsplit("-", 1)[1])
            assert final[iid].status is InstanceStatus.COMPLETED, (iid, final[iid].status, final[iid].error)
            assert await app.wait_result(iid, timeout=5) == [f"pa_mid:{n}", f"ch_work:{n}"]
            child = children[iid]
            assert child.status is InstanceStatus.COMPLETED and child.instance_id == f"{iid}.0"
            history = await app.get_history(iid)
            assert _kinds(history) == [StepKind.CHILD, StepKind.ACTIVITY, StepKind.WAIT], history
            assert effects.attempts("start", iid, "pa_mid") == ([1, 2] if held == "pa_mid" else [1])
            assert effects.attempts("start", child.instance_id, "ch_work") == (
                [1, 2] if held == "ch_work" else [1]
            )
            assert counts["done", iid, "pa_mid"] == 1 and counts["done", child.instance_id, "ch_work"] == 1
        await assert_nothing_stranded(app)
        await second.stop()
        second.assert_no_engine_errors()


# -- 6. an event wait whose timeout passes while no worker runs -----------------------------------------
PATIENT_IDS = [f"patient-{i}" for i in range(3)]


@pytest.mark.parametrize("event", ["none", "before_due", "after_due"])
async def test_event_wait_timeout_passes_while_no_worker_runs(
    db_url: str, workers: WorkerPool, effects: EffectLog, event: str
) -> None:
    """SIGKILL while instances are parked in ``wait_event(..., timeout_seconds=...)``.

    ``none``: the timeout passes with no worker; the next one records it once. ``before_due``: an
    addressed event sent while the worker is dead, before the due time, is the answer. ``after_due``:
    the time passed first, so the wait times out (docs, authoring/events.py: "raises EventTimeoutError
    when the time passes first; an addressed event arriving after that stays in the mailbox").
    """
    async with client(db_url) as app:
        first = await workers.spawn()
        for iid in PATIENT_IDS:
            seconds = 30.0 if event == "before_due" else 3.0  # short only when the test waits for it
            await app.start("patient", {"n": int(iid.rsplit("-", 1)[1]), "seconds": seconds}, instance_id=iid)
        await wait_until(
            lambda: _all_waiting(app, PATIENT_IDS, event=SLOW_EVENT),
            "every instance waits for its event",
            explain=workers.diagnostics,
        )
        await first.kill()
        dues = []
        for iid in PATIENT_IDS:
            info = await app.get_wait(iid)
            assert info is not None and info.wake_at is not None
            dues.append(info.wake_at)
            assert _kinds(await app.get_history(iid)) == [StepKind.NOW], "nothing may be recorded yet"
        if event == "before_due":
            for iid in PATIENT_IDS:
                await app.send_event(SLOW_EVENT, "crash-test", "early", instance_id=iid)
            assert datetime.now(UTC) < min(dues), "the events must be sent before the due time"
        else:
            await wait_until(lambda: datetime.now(UTC) > max(dues), "every timeout is due", timeout=10)
            for iid in PATIENT_IDS:
                assert (await app.get_instance(iid)).status is InstanceStatus.WAITING
                if event == "after_due":
                    await app.send_event(SLOW_EVENT, "crash-test", "late", instance_id=iid)

        second = await workers.spawn()
        final = await wait_all_finished(app, PATIENT_IDS, workers)
        expected = "early" if event == "before_due" else "timeout"
        for iid in PATIENT_IDS:
            assert final[iid].status is InstanceStatus.COMPLETED, (iid, final[iid].status, final[iid].error)
            history = await app.get_history(iid)
            assert _kinds(history) == [StepKind.NOW, StepKind.WAIT], history
            assert await app.wait_result(iid, timeout=5) == expected, (
                "BUG (see /work/notes/bugs-crash.md #2): an addressed event sent after the wait_event "
                "timeout had passed (while no worker ran) was taken instead of the timeout; the outcome "
                "depends on when a worker gets to the instance, not on which came first"
                if event == "after_due"
                else f"event {event}: expected {expected!r}"
            )
        await assert_nothing_stranded(app)
        await second.stop()
        second.assert_no_engine_errors()
