"""Workflows run by the crash and scale worker program (and started by the tests by name).

Every activity and compensation appends ``start`` before its work and ``done`` after it to the
side-effect log (see :mod:`tests.crash.support`), so a test can tell a completed side effect from an
interrupted one. ``SETTINGS.hold`` names steps that never finish in this process (the test kills it
while they wait); ``SETTINGS.pause_after`` names steps after whose *recorded* completion the workflow
body stalls (killed between a commit and the next step).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from durable_core import (
    Catalog,
    DidNotHappen,
    EventTimeoutError,
    Happened,
    ReconcileDecision,
    RetryPolicy,
    TerminalError,
    Unknown,
    WorkflowContext,
    activity,
    compensation,
    on_event,
    on_failure,
    publish,
    receive,
    send_to,
    sleep,
    start_child,
    subscribe,
    wait_event,
    wait_first,
    workflow,
)

CATALOG = Catalog()
NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(slots=True)
class Settings:
    """Per-process behaviour, set by the worker program from its command line."""

    log_path: str = ""
    fsync: bool = True
    hold: frozenset[str] = frozenset()
    pause_after: frozenset[str] = frozenset()
    forever: asyncio.Event = field(default_factory=asyncio.Event)  # never set


SETTINGS = Settings()


def record_effect(event: str, ctx: WorkflowContext, label: str) -> None:
    """Append one line ``<event> <instance> <label> <pid> <attempt>`` (and fsync it)."""
    line = f"{event} {ctx.instance_id} {label} {os.getpid()} {ctx.attempt}\n".encode()
    fd = os.open(SETTINGS.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        if SETTINGS.fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


async def _side_effect(ctx: WorkflowContext, label: str) -> None:
    record_effect("start", ctx, label)
    if label in SETTINGS.hold:
        await SETTINGS.forever.wait()  # the test SIGKILLs the process while it waits here
    record_effect("done", ctx, label)


# -- a plain three-step pipeline -----------------------------------------------------------------
@activity(retry_policy=NO_RETRY)
async def step(ctx: WorkflowContext, label: str, n: int) -> str:
    """One side effect; returns a value derived from its input so results can be checked."""
    await _side_effect(ctx, label)
    return f"{label}:{n}"


@workflow(catalog=CATALOG)
async def pipeline(ctx: WorkflowContext, n: int) -> list[str]:
    """s1 -> s2 -> s3."""
    return [await step(ctx, label, n) for label in ("s1", "s2", "s3")]


# -- a saga whose last step fails, so its compensations run -------------------------------------
@compensation
async def undo(ctx: WorkflowContext, label: str, n: int, result: str) -> str:
    """Compensate ``reserve(label, n)``; logged as ``undo_<label>``."""
    assert result == f"{label}:{n}", result
    await _side_effect(ctx, f"undo_{label}")
    return f"undone {label}:{n}"


@activity(retry_policy=NO_RETRY)
@on_failure(undo)
async def reserve(ctx: WorkflowContext, label: str, n: int) -> str:
    """A compensable side effect."""
    await _side_effect(ctx, label)
    return f"{label}:{n}"


@activity(retry_policy=NO_RETRY)
async def charge(ctx: WorkflowContext, n: int) -> None:
    """Always fails for good (recorded as an error, never retried)."""
    record_effect("start", ctx, "charge")
    raise TerminalError(f"card declined for order {n}")


@workflow(catalog=CATALOG)
async def saga(ctx: WorkflowContext, n: int) -> None:
    """reserve s1, reserve s2, charge (fails) -> undo s2, undo s1."""
    await reserve(ctx, "s1", n)
    await reserve(ctx, "s2", n)
    await charge(ctx, n)


class PauseHooks:
    """Stalls the workflow body after a step in ``SETTINGS.pause_after`` was recorded (live only)."""

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """Called by the engine after the step's history entry was committed."""
        if not cache_hit and isinstance(result, str) and result.split(":")[0] in SETTINGS.pause_after:
            await SETTINGS.forever.wait()


# -- a durable timer between two steps (messaging crash tests) ----------------------------------
@workflow(catalog=CATALOG)
async def napper(ctx: WorkflowContext, n: int, seconds: float) -> list[str]:
    """nap_a -> durable ``sleep(seconds)`` -> nap_b."""
    first = await step(ctx, "nap_a", n)
    await sleep(ctx, seconds)
    return [first, await step(ctx, "nap_b", n)]


# -- competing consumers of a job channel -------------------------------------------------------
JOBS_CHANNEL = "jobs"
STOP_JOB = "stop"


@activity(retry_policy=NO_RETRY)
async def process(ctx: WorkflowContext, job: str) -> str:
    """Process one job: a side effect logged under the job's name; returns the name."""
    await _side_effect(ctx, job)
    return job


@workflow(catalog=CATALOG)
async def job_consumer(
    ctx: WorkflowContext, n: int, done: list[str] | None = None, recur: bool = True
) -> list[str]:
    """Competing subscriber of ``jobs``: receive -> process, until a ``stop`` job; returns the jobs done.

    With ``recur`` every processed job starts a fresh run (``ctx.recur``) carrying the jobs done so far;
    without it the body loops, so the whole journal stays in one history.
    """
    processed = list(done or [])
    if done is None:
        await subscribe(ctx, JOBS_CHANNEL, mode="competing")
    while True:
        message = await receive(ctx, JOBS_CHANNEL)
        job = str(message.data["job"])
        if job == STOP_JOB:
            return processed
        processed.append(await process(ctx, job))
        if recur:
            await ctx.recur(n=n, done=processed, recur=True)


# -- addressed events ---------------------------------------------------------------------------
GO_EVENT = "crash.go"


@workflow(catalog=CATALOG)
async def event_waiter(ctx: WorkflowContext, n: int) -> list[str]:
    """ev_a -> two ``wait_event(crash.go)`` -> ev_b; returns the two events' ``k`` values in order."""
    await step(ctx, "ev_a", n)
    got = [str((await wait_event(ctx, GO_EVENT)).data["k"]) for _ in range(2)]
    await step(ctx, "ev_b", n)
    return got


FIRST_EVENT = "crash.first"
LATE_EVENT = "crash.late"


@workflow(catalog=CATALOG)
async def first_then_late(ctx: WorkflowContext, n: int) -> list[str]:
    """``wait_first(crash.first, crash.late)`` -> fl_mid -> ``wait_event(crash.late)``.

    Returns the index that won the race and the data of the ``crash.late`` event received afterwards.
    """
    first = await wait_first(ctx, on_event(FIRST_EVENT), on_event(LATE_EVENT))
    await step(ctx, "fl_mid", n)
    late = await wait_event(ctx, LATE_EVENT)
    return [str(first.index), str(late.data)]


@workflow(catalog=CATALOG)
async def job_producer(ctx: WorkflowContext, n: int, count: int, direct_to: str) -> list[str]:
    """Publish ``count`` jobs on ``jobs`` around a ``prod_mid`` step, each half ending with one job sent
    directly to ``direct_to`` (``send_to``); returns the message ids in send order.

    Jobs are named ``p<n>-<i>`` (published) and ``p<n>-d<half>`` (direct).
    """
    ids: list[str] = []
    for half in (0, 1):
        for i in range(half * count // 2, (half + 1) * count // 2):
            ids.append(await publish(ctx, JOBS_CHANNEL, {"job": f"p{n}-{i}"}))
        ids.append(await send_to(ctx, direct_to, JOBS_CHANNEL, {"job": f"p{n}-d{half}"}))
        if half == 0:
            await step(ctx, "prod_mid", n)
    return ids


# -- child workflows ----------------------------------------------------------------------------
@workflow(catalog=CATALOG)
async def child_job(ctx: WorkflowContext, n: int) -> str:
    """One ``ch_work`` step."""
    return await step(ctx, "ch_work", n)


@workflow(catalog=CATALOG)
async def parent_job(ctx: WorkflowContext, n: int) -> list[str]:
    """start_child(child_job) -> pa_mid -> the child's result."""
    handle = await start_child(ctx, child_job, n=n)
    mid = await step(ctx, "pa_mid", n)
    return [mid, await handle.result()]


# -- an event wait with a timeout ---------------------------------------------------------------
SLOW_EVENT = "crash.slow"


@workflow(catalog=CATALOG)
async def patient(ctx: WorkflowContext, n: int, seconds: float) -> str:
    """``wait_event(crash.slow, timeout_seconds=seconds)``; returns the event's data or ``"timeout"``."""
    try:
        event = await wait_event(ctx, SLOW_EVENT, timeout_seconds=seconds)
    except EventTimeoutError:
        return "timeout"
    return str(event.data)


# -- an at-most-once charge (payments must not repeat) ------------------------------------------
def _reconcile_charge(ctx: WorkflowContext, label: str, verdict: str) -> ReconcileDecision:
    """Answers what the test asked for in ``verdict``; logs ``reconcile`` and the step's key first."""
    record_effect("reconcile", ctx, label)
    record_effect("key", ctx, f"{label}/{ctx.step_idempotency_key()}")
    if verdict == "happened":
        return Happened(f"{label}:reconciled")
    if verdict == "did-not-happen":
        return DidNotHappen()
    return Unknown("the payment provider cannot say")


@activity(retry_policy=NO_RETRY, at_most_once=True, reconcile=_reconcile_charge)
async def charge_once(ctx: WorkflowContext, label: str, verdict: str) -> str:
    """An at-most-once side effect with a reconcile function; logs its idempotency key."""
    record_effect("key", ctx, f"{label}/{ctx.step_idempotency_key()}")
    await _side_effect(ctx, label)
    return f"{label}:charged"


@activity(retry_policy=NO_RETRY, at_most_once=True)
async def charge_unreconciled(ctx: WorkflowContext, label: str) -> str:
    """An at-most-once side effect without a reconcile function: an operator decides at once."""
    await _side_effect(ctx, label)
    return f"{label}:charged"


@workflow(catalog=CATALOG)
async def pay_once(ctx: WorkflowContext, n: int, verdict: str) -> list[str]:
    """po_a -> po_charge (at most once; ``verdict`` "none" uses the activity without reconcile)."""
    first = await step(ctx, "po_a", n)
    if verdict == "none":
        return [first, await charge_unreconciled(ctx, "po_charge")]
    return [first, await charge_once(ctx, "po_charge", verdict)]


# -- an activity that streams tokens, killed mid-stream -------------------------------------------
@activity(retry_policy=NO_RETRY)
async def speak(ctx: WorkflowContext, label: str, n: int) -> str:
    """Streams three tokens (stored before the side effect starts), then the side effect."""
    out = ctx.stream("tokens")
    for i in range(3):
        out.write(f"{label}.{ctx.attempt}.{i}")
    await out.flush()
    await _side_effect(ctx, label)
    return f"{label}:{n}"


@workflow(catalog=CATALOG)
async def speaker(ctx: WorkflowContext, n: int) -> list[str]:
    """sp1 -> sp2, each streaming to ``tokens``."""
    return [await speak(ctx, label, n) for label in ("sp1", "sp2")]
