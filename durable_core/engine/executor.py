"""Live execution of activities and compensations: attempts, retries, timeouts, fenced recording."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from durable_core.authoring.at_most_once import DidNotHappen, Happened, ReconcileDecision, Unknown
from durable_core.authoring.context import CURRENT_CONTEXT, WorkflowContext
from durable_core.authoring.runtime import ChildStart, WaitSpec
from durable_core.clock import monotonic
from durable_core.engine.at_most_once import (
    AttemptStarted,
    OperatorAnswer,
    ask_reconcile,
    read_mark,
    started_mark,
    unknown_signal,
)
from durable_core.engine.attempt_scope import AttemptScope
from durable_core.engine.children import create_child_instance
from durable_core.engine.control import RunControl
from durable_core.engine.services import EngineServices
from durable_core.engine.step_end import StepEnd
from durable_core.engine.streams import AttemptStreams, RunStreams
from durable_core.errors import (
    ActivityTimeoutError,
    RetryExhaustedError,
    StorageRefusedError,
    StorageUnavailableError,
    TerminalError,
)
from durable_core.observers import StepObservation
from durable_core.replay.session import ReplaySession
from durable_core.replay.steps import LiveExecutor, PlannedActivity, PlannedCompensation
from durable_core.replay.wait_records import wait_entry
from durable_core.retry import RetryPolicy
from durable_core.serialization import error_to_info
from durable_core.signals import EddaSignal, LeaseLostSignal, SuspendSignal
from durable_core.storage.base import UserTransaction
from durable_core.types import (
    AttemptState,
    ErrorInfo,
    HistoryEntry,
    Lease,
    OutgoingMessage,
    RecordOutcome,
    RetryInfo,
    StepKind,
    StepOutcome,
    StoredMessage,
    SubscriptionMode,
)

logger = logging.getLogger("durable_core.engine")

_MAX_RECORDED_ERRORS = 10
T = TypeVar("T")


class StorageLostSignal(EddaSignal):
    """The database failed while the engine read or wrote the run's state: stop the run.

    A ``BaseException`` so that neither the activity retry loop nor the user's workflow code treats the
    outage as their own failure; the runner re-raises :attr:`error` and the instance is resumed later.
    """

    def __init__(self, error: StorageUnavailableError) -> None:
        super().__init__(str(error))
        self.error = error


class StorageRefusedSignal(EddaSignal):
    """The database refused data the run wrote, for good: stop the run and park the instance.

    A ``BaseException`` for the same reason as :class:`StorageLostSignal`: it is an engine error, never
    a failed attempt of an activity nor an exception the workflow could catch and carry on after.
    """

    def __init__(self, error: StorageRefusedError) -> None:
        super().__init__(str(error))
        self.error = error


async def _stored(call: Awaitable[T]) -> T:
    """Await a storage call made on behalf of the run, turning storage failures into signals."""
    try:
        return await call
    except StorageUnavailableError as exc:
        raise StorageLostSignal(exc) from exc
    except StorageRefusedError as exc:
        raise StorageRefusedSignal(exc) from exc


class _UnrecordableResult(TerminalError):
    """The activity returned a value that cannot be stored; retrying would not help."""


class StepExecutor(LiveExecutor):
    """Executes the live steps of one run while holding ``lease``."""

    def __init__(
        self,
        services: EngineServices,
        lease: Lease,
        control: RunControl,
        *,
        charge_crash: bool,
        attempts_known_empty: bool,
    ) -> None:
        self._s = services
        self._lease = lease
        self._control = control
        self._charge_crash = charge_crash
        self._attempts: dict[int, AttemptState] | None = {} if attempts_known_empty else None
        self._streams = RunStreams(services, lease)

    # -- LiveExecutor --------------------------------------------------------------------------
    def check_interrupts(self) -> None:
        """Raise a signal if the run must stop before starting new work."""
        self._control.check(self._s.clock.now())

    async def flush(self, entries: Sequence[HistoryEntry]) -> None:
        """Record buffered side-effect values."""
        for entry in entries:
            await self._record(entry, None)

    async def on_replayed_activity(self, instance_id: str, activity_id: str, name: str, result: Any) -> None:
        """Hooks for a cache hit."""
        await self._s.hooks.activity_start(instance_id, activity_id, name, True)
        await self._s.hooks.activity_complete(instance_id, activity_id, name, result, True)

    async def execute_activity(self, session: ReplaySession, step: PlannedActivity) -> HistoryEntry:
        """Run the activity with its retry policy and record its final outcome."""
        act = step.activity

        def invoke(ctx: WorkflowContext) -> Any:
            if act.is_async:
                return act.fn(ctx, *step.args, **step.kwargs)
            return asyncio.to_thread(act.fn, ctx, *step.args, **step.kwargs)

        async def invoke_marked(ctx: WorkflowContext) -> Any:
            # at-most-once: "attempt started" is durable before the attempt runs (its own statement)
            await self._count_attempt(step.position, ctx.attempt, started_mark(act.name, ctx.attempt))
            return await invoke(ctx)

        if act.rate_limit is not None and self._s.flow is not None:
            try:
                await self._s.flow.take(act.rate_limit, self._s.lease_ttl)  # none free: the run parks
            except SuspendSignal as parked:  # the step has not run: its position is not "reached"
                parked.reached = step.position
                raise
        with self._control.step_running(act.name):
            if act.at_most_once:
                settled = await self._settle_interrupted(session, step)
                if settled is not None:
                    return settled
            return await self._run_with_retries(
                session,
                position=step.position,
                kind=StepKind.ACTIVITY,
                name=act.name,
                args_hash=step.args_hash,
                activity_id=step.activity_id,
                policy=act.retry_policy or self._s.default_retry_policy,
                timeout=act.timeout,
                invoke=invoke_marked if act.at_most_once else invoke,
            )

    async def _settle_interrupted(self, session: ReplaySession, step: PlannedActivity) -> HistoryEntry | None:
        """At-most-once: decide about an attempt an earlier run started and left without an outcome.

        Returns the recorded entry when the attempt is known to have happened, ``None`` when the
        activity may run (nothing interrupted, or it did not happen); raises
        :class:`OutcomeUnknownSignal` to park the instance until an operator answers.
        """
        state = await self._attempt_state(step.position)
        mark = read_mark(state)
        if mark is None or state is None:
            return None
        self._charge_crash = False  # the crash interrupted this step's attempt, which is already counted
        if isinstance(mark, OperatorAnswer):
            return (
                await self._record_known(session, step, mark.result, state.attempts)
                if mark.happened
                else None
            )
        decision: ReconcileDecision = Unknown("no reconcile function")
        if step.activity.reconcile is not None:
            tx = self._s.storage.begin_user_transaction()
            scope = AttemptScope(step.activity_id, state.attempts, tx, self._s.storage, step.position)
            try:
                decision = await ask_reconcile(
                    step.activity, WorkflowContext(session, scope), step.args, step.kwargs
                )
            finally:
                await tx.close()
        if isinstance(decision, Happened):
            return await self._record_known(session, step, decision.result, state.attempts)
        if isinstance(decision, DidNotHappen):
            return None
        why = f"{decision.reason or 'reconcile answered Unknown'}; waiting for an operator's answer"
        raise unknown_signal(session.instance_id, step.position, mark, why)

    async def _record_known(
        self, session: ReplaySession, step: PlannedActivity, value: Any, attempts: int
    ) -> HistoryEntry:
        """Record ``value`` as the result of an interrupted at-most-once attempt that did happen."""
        act, iid = step.activity, session.instance_id
        try:
            payload = self._s.serializer.encode(value, "result")
        except (TypeError, ValueError) as exc:
            mark = AttemptStarted(act.name, attempts)
            why = f"the result it was given cannot be stored ({exc}); waiting for an operator's answer"
            raise unknown_signal(iid, step.position, mark, why) from None
        kind, ok = StepKind.ACTIVITY, StepOutcome.OK
        entry = self._entry(
            iid, step.position, kind, act.name, step.args_hash, ok, monotonic(), attempts, ([], [])
        )
        recorded = await self._record(_with_result(entry, payload), None)
        await self._s.hooks.activity_complete(iid, step.activity_id, act.name, value, False)
        return recorded

    async def execute_compensation(self, session: ReplaySession, step: PlannedCompensation) -> HistoryEntry:
        """Run a compensation with retries and record it (a final failure is recorded, not raised)."""
        comp = step.call.compensation
        kwargs = dict(step.call.kwargs)
        if comp.wants_result:
            kwargs["result"] = step.result

        def invoke(ctx: WorkflowContext) -> Any:
            if comp.is_async:
                return comp.fn(ctx, *step.call.args, **kwargs)
            return asyncio.to_thread(comp.fn, ctx, *step.call.args, **kwargs)

        with self._control.step_running(f"compensation {comp.name}"):
            entry = await self._run_with_retries(
                session,
                position=step.position,
                kind=StepKind.COMPENSATION,
                name=comp.name,
                args_hash="",
                activity_id=step.activity_id,
                policy=comp.retry_policy or self._s.default_retry_policy,
                timeout=None,
                invoke=invoke,
            )
        if entry.outcome is StepOutcome.ERROR and entry.error is not None:
            logger.error(
                "compensation %s of instance %s failed for good: %s",
                comp.name,
                session.instance_id,
                entry.error.message,
            )
        return entry

    # -- attempts ------------------------------------------------------------------------------
    async def _run_with_retries(
        self,
        session: ReplaySession,
        *,
        position: int,
        kind: StepKind,
        name: str,
        args_hash: str,
        activity_id: str,
        policy: RetryPolicy,
        timeout: float | None,
        invoke: Callable[[WorkflowContext], Any],
    ) -> HistoryEntry:
        attempt = await self._prior_attempts(position)
        started = monotonic()
        errors: list[ErrorInfo] = []
        delays: list[int] = []  # the back-off before each retry, in ms (shown by the console, CLI)
        iid = session.instance_id
        while True:
            attempt += 1
            await self._s.hooks.activity_start(iid, activity_id, name, False)
            tx = self._s.storage.begin_user_transaction()
            end = StepEnd()  # once the body has ended, its outcome is recorded before an interruption
            try:
                result, payload = await self._attempt(
                    session, kind, name, activity_id, attempt, tx, invoke, timeout, position, end
                )
            except Exception as exc:
                await end.finish(tx.close())  # roll back the attempt's user writes before writing
                errors.append(error_to_info(exc))
                del errors[:-_MAX_RECORDED_ERRORS]
                retryable = policy.is_retryable(exc)
                delay = policy.delay_before(attempt)
                if retryable and policy.allows_another(attempt, monotonic() - started, delay):
                    end.raise_if_interrupted()  # no final outcome yet: nothing to keep
                    await self._s.hooks.activity_retry(iid, activity_id, name, exc, attempt, delay)
                    await self._count_attempt(position, attempt, errors[-1])
                    delays.append(round(delay * 1000))
                    await self._s.clock.sleep(delay)
                    self._control.check_lease()
                    continue
                tries = (errors, delays)
                failure = self._record_failure(
                    session,
                    position,
                    kind,
                    name,
                    args_hash,
                    activity_id,
                    started,
                    attempt,
                    tries,
                    exc,
                    retryable,
                )
                return self._kept(session, await end.finish(failure), end)
            except BaseException:  # interrupted (or the lease is lost): the attempt's writes roll back
                await tx.close()
                raise
            # The activity succeeded: recording its result is outside the retry loop. A storage failure
            # here is an engine error (a signal), never a failed attempt that would run it again.
            entry = self._entry(
                iid, position, kind, name, args_hash, StepOutcome.OK, started, attempt, (errors, delays)
            )
            observed = (activity_id, started, attempt)
            done = self._record_success(session, _with_result(entry, payload), tx, observed, result)
            return self._kept(session, await end.finish(done), end)

    @staticmethod
    def _kept(session: ReplaySession, recorded: HistoryEntry, end: StepEnd) -> HistoryEntry:
        """Return the recorded outcome; if the run was interrupted meanwhile, hand it over, then stop."""
        if end.interrupted is not None:
            session.keep_interrupted(recorded)  # its compensation is registered before the unwind
            end.raise_if_interrupted()
        return recorded

    async def _record_success(
        self,
        session: ReplaySession,
        entry: HistoryEntry,
        tx: UserTransaction,
        observed: tuple[str, float, int],
        result: Any,
    ) -> HistoryEntry:
        """Record a successful attempt with its user writes; ``observed``: activity id, start, attempts."""
        activity_id, started, attempts = observed
        try:
            recorded = await self._record(entry, tx if tx.used else None)
        finally:
            await tx.close()
        await self._completed(session, entry.kind, entry.name, activity_id, started, attempts, result)
        return recorded

    async def _completed(
        self,
        session: ReplaySession,
        kind: StepKind,
        name: str,
        activity_id: str,
        started: float,
        attempts: int,
        result: Any,
    ) -> None:
        step = StepObservation(session.workflow_name, name, kind, monotonic() - started, attempts, True)
        self._s.observers.step_finished(step)
        await self._s.hooks.activity_complete(session.instance_id, activity_id, name, result, False)

    async def _attempt(
        self,
        session: ReplaySession,
        kind: StepKind,
        name: str,
        activity_id: str,
        attempt: int,
        tx: UserTransaction,
        invoke: Callable[[WorkflowContext], Any],
        timeout: float | None,
        position: int,
        end: StepEnd,
    ) -> tuple[Any, Any]:
        """Run one attempt; return its result and the payload it is stored as.

        Once the body has ended, storing its output chunks is not cut short by an interruption (``end``).
        """
        streams = AttemptStreams(self._streams, self._s, position, attempt)
        ctx = WorkflowContext(
            session, AttemptScope(activity_id, attempt, tx, self._s.storage, position, streams)
        )
        token = CURRENT_CONTEXT.set(ctx)  # send_event() in the activity sends, not journals
        try:
            result = await self._call(invoke(ctx), timeout, name)
        finally:
            CURRENT_CONTEXT.reset(token)
            await end.finish(_stored(streams.finish()))  # chunks are stored before the step's result
        try:
            payload = self._s.serializer.encode(result, "result")
        except (TypeError, ValueError) as exc:
            raise _UnrecordableResult(
                f"{kind.value} {name} returned a value that cannot be stored: {exc}"
            ) from None
        return result, payload

    async def _record_failure(
        self,
        session: ReplaySession,
        position: int,
        kind: StepKind,
        name: str,
        args_hash: str,
        activity_id: str,
        started: float,
        attempt: int,
        tries: tuple[list[ErrorInfo], list[int]],
        exc: Exception,
        retryable: bool,
    ) -> HistoryEntry:
        """Record the final failure of an activity or compensation (retries exhausted, or terminal)."""
        final: Exception = exc
        if retryable:
            final = RetryExhaustedError(
                f"{kind.value} {name} failed after {attempt} attempt(s): {type(exc).__name__}: {exc}",
                f"{type(exc).__module__}:{type(exc).__qualname__}",
                attempt,
            )
            final.__cause__ = exc
        iid = session.instance_id
        step = StepObservation(session.workflow_name, name, kind, monotonic() - started, attempt, False)
        self._s.observers.step_finished(step)
        await self._s.hooks.activity_failed(iid, activity_id, name, final)
        entry = self._entry(iid, position, kind, name, args_hash, StepOutcome.ERROR, started, attempt, tries)
        entry = _with_error(entry, error_to_info(final), exhausted=retryable)
        return await self._record(entry, None)

    async def _call(self, awaitable: Any, timeout: float | None, name: str) -> Any:
        if timeout is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except TimeoutError:
            raise ActivityTimeoutError(f"{name} did not finish within {timeout} s") from None

    async def _attempt_state(self, position: int) -> AttemptState | None:
        """The durable attempts row of ``position`` (all rows are read once per run, when first needed)."""
        if self._attempts is None:
            self._attempts = await _stored(self._s.storage.load_attempts(self._lease.instance_id))
        return self._attempts.get(position)

    async def _prior_attempts(self, position: int) -> int:
        """Attempts already made at this position in earlier runs (survives crashes)."""
        state = await self._attempt_state(position)
        prior = state.attempts if state is not None else 0
        if self._charge_crash:
            # The previous owner died while running this run's first new step: that attempt counts.
            self._charge_crash = False
            prior += 1
            await self._count_attempt(position, prior, state.last_error if state is not None else None)
        return prior

    async def _count_attempt(self, position: int, attempts: int, last_error: ErrorInfo | None) -> None:
        outcome = await _stored(self._s.storage.record_attempt(self._lease, position, attempts, last_error))
        if outcome is RecordOutcome.LEASE_LOST:
            self._control.lease_lost = True
            raise LeaseLostSignal()

    def _entry(
        self,
        instance_id: str,
        position: int,
        kind: StepKind,
        name: str,
        args_hash: str,
        outcome: StepOutcome,
        started: float,
        attempt: int,
        tries: tuple[list[ErrorInfo], list[int]],
    ) -> HistoryEntry:
        """The history entry of a finished step; ``tries``: the errors and back-off delays of its attempts."""
        errors, delays = tries
        retry = None
        if attempt > 1 or errors:
            duration = int((monotonic() - started) * 1000)
            retry = RetryInfo(attempt, duration, False, tuple(errors), tuple(delays))
        return HistoryEntry(
            instance_id=instance_id,
            position=position,
            kind=kind,
            name=name,
            args_hash=args_hash,
            outcome=outcome,
            retry=retry,
            recorded_at=self._s.clock.now(),
        )

    # -- messaging ----------------------------------------------------------------------------
    async def take_message(
        self, session: ReplaySession, position: int, spec: WaitSpec
    ) -> HistoryEntry | None:
        """Take the oldest message for ``spec`` and record the wait's end in the same transaction."""
        iid = self._lease.instance_id

        def build(message: StoredMessage) -> HistoryEntry:
            return wait_entry(session.serializer, iid, position, spec, message, self._s.clock.now())

        now = self._s.clock.now()
        # once the wait's time is up, only what arrived in time counts: the timeout came first
        sent_by = spec.due if spec.due is not None and now >= spec.due else None
        outcome, entry = await _stored(
            self._s.storage.messaging().take(self._lease, spec.keys, build, spec.retain, sent_by)
        )
        if outcome is RecordOutcome.RECORDED:
            return entry
        return await self._settle(outcome, iid, position)

    async def end_wait(self, session: ReplaySession, position: int, spec: WaitSpec) -> HistoryEntry:
        """Record the wait's timeout and drop its wait rows."""
        iid = self._lease.instance_id
        entry = wait_entry(session.serializer, iid, position, spec, None, self._s.clock.now())
        outcome = await _stored(self._s.storage.messaging().end_wait(self._lease, entry, spec.retain))
        if outcome is RecordOutcome.RECORDED:
            return entry
        return await self._settle(outcome, iid, position)

    async def send_message(self, entry: HistoryEntry, message: OutgoingMessage) -> HistoryEntry:
        """Store the message and record ``entry`` atomically; wake local receivers."""
        result = await _stored(
            self._s.storage.messaging().deliver(message, self._s.clock.now(), record=(self._lease, entry))
        )
        if result.record_outcome is not RecordOutcome.RECORDED:
            return await self._settle(result.record_outcome, entry.instance_id, entry.position)
        self._s.local.wake(result.woken)
        return entry

    async def send_unjournaled(self, message: OutgoingMessage) -> None:
        """Store the message now; wake local receivers."""
        result = await _stored(self._s.storage.messaging().deliver(message, self._s.clock.now()))
        self._s.local.wake(result.woken)

    async def set_subscription(self, instance_id: str, channel: str, mode: SubscriptionMode | None) -> None:
        """Subscribe or unsubscribe (idempotent)."""
        messaging = self._s.storage.messaging()
        if mode is None:
            await _stored(messaging.unsubscribe(instance_id, channel))
        else:
            await _stored(messaging.subscribe(instance_id, channel, mode, self._s.clock.now()))

    async def create_child(self, parent_id: str, child: ChildStart) -> str:
        """Create the child (idempotent on its id) and let the local dispatcher run it."""
        child_id = await _stored(create_child_instance(self._s, parent_id, child))
        self._s.local.wake((child_id,))
        return child_id

    async def _settle(self, outcome: RecordOutcome, instance_id: str, position: int) -> HistoryEntry:
        """After a fenced write did not record: stop on a lost lease, adopt someone else's entry."""
        if outcome is RecordOutcome.LEASE_LOST:
            self._control.lease_lost = True
            raise LeaseLostSignal()
        stored = await _stored(self._s.storage.get_entry(instance_id, position))
        if stored is None:  # pragma: no cover - a conflict implies the row exists
            raise LeaseLostSignal()
        return stored

    async def _record(self, entry: HistoryEntry, tx: UserTransaction | None) -> HistoryEntry:
        outcome = await _stored(self._s.storage.record_step(self._lease, entry, tx=tx))
        if outcome is RecordOutcome.RECORDED:
            return entry
        if outcome is RecordOutcome.LEASE_LOST:
            self._control.lease_lost = True
            raise LeaseLostSignal()
        stored = await _stored(self._s.storage.get_entry(entry.instance_id, entry.position))
        if stored is None:  # pragma: no cover - a conflict implies the row exists
            raise LeaseLostSignal()
        logger.info(
            "position %s of %s was recorded by another worker; adopting it", entry.position, entry.instance_id
        )
        return stored


def _with_result(entry: HistoryEntry, payload: Any) -> HistoryEntry:
    return replace(entry, result=payload)


def _with_error(entry: HistoryEntry, error: ErrorInfo, *, exhausted: bool) -> HistoryEntry:
    retry = entry.retry
    if retry is not None:
        retry = replace(retry, exhausted=exhausted)
    return replace(entry, error=error, retry=retry)
