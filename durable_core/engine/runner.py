"""Runs one claimed instance to its next resting point: completed, failed, cancelled or blocked."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from durable_core.authoring.budget import BudgetLedger, budget_scope, split_budget
from durable_core.authoring.context import CURRENT_CONTEXT, WorkflowContext
from durable_core.authoring.runtime import WaitSpec
from durable_core.authoring.workflow import Workflow
from durable_core.engine.at_most_once import started_mark
from durable_core.engine.control import RunControl
from durable_core.engine.executor import StepExecutor, StorageLostSignal, StorageRefusedSignal
from durable_core.engine.faults import (
    ENGINE_ERROR_LIMIT,
    backoff_delay,
    blocked_reason,
    engine_error_position,
)
from durable_core.engine.services import EngineServices
from durable_core.errors import EddaError, NonDeterminismError, StorageRefusedError, WorkflowTimeoutError
from durable_core.replay.patches import GUARD_ADVICE, describe
from durable_core.replay.session import ReplaySession
from durable_core.replay.steps import ReplayMode
from durable_core.serialization import args_hash, error_to_info
from durable_core.signals import (
    CancelSignal,
    DeadlineSignal,
    LeaseLostSignal,
    OutcomeUnknownSignal,
    PauseSignal,
    RecurSignal,
    ReplayEndSignal,
    SuspendSignal,
)
from durable_core.types import (
    CancelOutcome,
    ClaimedInstance,
    ErrorInfo,
    FinishRequest,
    HistoryEntry,
    InstanceRecord,
    InstanceStatus,
    JsonValue,
    ParkOutcome,
    RecordOutcome,
)

logger = logging.getLogger("durable_core.engine")


class RunEnd(enum.Enum):
    """How a run ended."""

    FINISHED = "finished"  # completed, failed, cancelled or blocked: state written
    PARKED = "parked"  # waiting (timer): stored as WAITING with its wake-up time, lease released
    LEASE_LOST = "lease-lost"  # another worker owns it now; nothing more written
    AGAIN = "again"  # keep the lease and run the body again (a message was already there; or recur)


class InstanceRunner:
    """Replays and continues one instance while holding its lease."""

    def __init__(
        self,
        services: EngineServices,
        claimed: ClaimedInstance,
        control: RunControl,
        known_history: list[HistoryEntry] | None = None,
    ) -> None:
        self._s = services
        # what this process recorded up to the instance's last park here, when nobody claimed it since
        self._known_history = known_history
        self.parked_history: list[HistoryEntry] | None = None
        self.parked_wait: tuple[int, WaitSpec] | None = None  # (position, spec) of an event/message wait
        self._claimed = claimed
        self._lease = claimed.lease
        self._instance = claimed.instance
        self._control = control
        self.final_record: InstanceRecord | None = None
        self.parked_until: datetime | None = None
        # Epoch 1 is the first claim ever made on the instance: nothing can have been recorded yet.
        self._is_first_run = claimed.lease.epoch == 1
        self._recurred = False  # the body asked for a fresh run (ctx.recur) that has no history yet
        self._session: ReplaySession | None = None  # the current pass (its entries measure progress)

    @property
    def lease_epoch(self) -> int:
        """The epoch of the lease this run holds."""
        return self._lease.epoch

    async def run(self) -> RunEnd:
        """Run until the instance finishes, parks (or this worker loses its lease)."""
        inst = self._instance
        wf = self._s.catalog.get(inst.workflow_name)
        # Epoch 1 is the first claim ever made: nothing can be recorded yet, so skip the read.
        if self._is_first_run:
            history: list[HistoryEntry] = []
        elif self._known_history is not None:
            history = self._known_history  # this process parked it and no one has claimed it since
        else:
            history = await self._s.storage.load_history(inst.instance_id)
        self._control.deadline = inst.deadline_at
        self._control.cancel_requested = self._control.cancel_requested or inst.cancel_requested
        executor = StepExecutor(
            self._s,
            self._lease,
            self._control,
            charge_crash=self._claimed.took_over_crashed,
            attempts_known_empty=self._is_first_run,
        )
        frontier = inst.replay_frontier or 0  # how far the code got before (see ctx.patched)
        try:
            await self._note_version()
            while True:
                unwinding = (
                    self._control.cancel_requested or self._instance.status is InstanceStatus.COMPENSATING
                )
                session = ReplaySession(
                    instance_id=inst.instance_id,
                    workflow_name=wf.name,
                    history=history,
                    serializer=self._s.serializer,
                    clock_now=self._s.clock.now,
                    executor=executor,
                    mode=ReplayMode.UNWIND if unwinding else ReplayMode.LIVE,
                    frontier=frontier,
                )
                self._session = session
                if self._control.cancel_requested and not history:
                    # Cancelled before it did anything: there is nothing to compensate or replay.
                    return await self._unwind(session, InstanceStatus.CANCELLED, None)
                end = await self._run_body(wf, session)
                if end is not RunEnd.AGAIN:
                    return end
                if self._recurred:  # a fresh run: no history, no attempt counters, no crash to charge
                    self._recurred = False
                    history, frontier = [], 0
                    executor = StepExecutor(
                        self._s, self._lease, self._control, charge_crash=False, attempts_known_empty=True
                    )
                else:
                    history = session.recorded_entries()
        except LeaseLostSignal:
            logger.warning("lost the lease of %s to another worker; stopping this run", inst.instance_id)
            return RunEnd.LEASE_LOST
        except (StorageRefusedSignal, StorageLostSignal) as signal:
            return await self._after_engine_error(signal.error)
        except Exception as exc:  # storage refused/unavailable outside the body, or an engine bug
            return await self._after_engine_error(exc)

    async def _note_version(self) -> None:
        """Record this worker's code version on the instance when another version ran it last."""
        version = self._s.version()
        if version != self._instance.last_run_version:
            if not await self._s.storage.evolution().note_run_version(
                self._lease, version, self._s.clock.now()
            ):
                raise LeaseLostSignal()
            self._instance = dataclasses.replace(self._instance, last_run_version=version)

    async def _after_engine_error(self, error: Exception) -> RunEnd:
        """Park the instance after an engine error: blocked at once, or after a durable backoff.

        See :mod:`durable_core.engine.faults`. A ``StorageUnavailableError`` raised while doing so
        (the database is down) reaches the dispatcher, which gives the instance back once it answers.
        """
        inst = self._instance
        try:
            if isinstance(error, StorageRefusedError):
                logger.error("instance %s is parked as blocked: %s", inst.instance_id, error)
                await self._finish(
                    FinishRequest(InstanceStatus.BLOCKED, blocked_reason=blocked_reason(error))
                )
                return RunEnd.FINISHED
            return await self._back_off(error)
        except LeaseLostSignal:
            return RunEnd.LEASE_LOST

    async def _back_off(self, error: Exception) -> RunEnd:
        inst = self._instance
        progress = len(self._session.recorded_entries()) if self._session is not None else 0
        position = engine_error_position(progress)
        state = (await self._s.storage.load_attempts(inst.instance_id)).get(position)
        errors = (state.attempts if state is not None else 0) + 1
        if errors >= ENGINE_ERROR_LIMIT:
            logger.error(
                "instance %s is parked as blocked after %d engine errors: %s", inst.instance_id, errors, error
            )
            await self._count_engine_error(position, 0, error)  # a resumed run gets the whole budget again
            reason = blocked_reason(error, errors)
            await self._finish(FinishRequest(InstanceStatus.BLOCKED, blocked_reason=reason))
            return RunEnd.FINISHED
        await self._count_engine_error(position, errors, error)
        now = self._s.clock.now()
        wake_at = now + backoff_delay(errors)
        logger.warning(
            "engine error %d/%d while running %s (%s: %s); it runs again at %s",
            errors,
            ENGINE_ERROR_LIMIT,
            inst.instance_id,
            type(error).__name__,
            error,
            wake_at.isoformat(),
        )
        if not await self._s.storage.park(self._lease, wake_at, now):
            raise LeaseLostSignal()
        self.parked_until = wake_at
        return RunEnd.PARKED

    async def _count_engine_error(self, position: int, errors: int, error: Exception) -> None:
        outcome = await self._s.storage.record_attempt(self._lease, position, errors, error_to_info(error))
        if outcome is RecordOutcome.LEASE_LOST:
            raise LeaseLostSignal()

    async def _run_body(self, wf: Workflow[Any, Any], session: ReplaySession) -> RunEnd:
        inst = self._instance
        input_data = self._s.serializer.decode(inst.input)
        if self._is_first_run:
            self._s.observers.workflow_started(wf.name)
            await self._s.hooks.workflow_start(inst.instance_id, wf.name, input_data)
        try:
            kwargs = wf.decode_arguments(input_data)
            ctx = WorkflowContext(session)
            token = CURRENT_CONTEXT.set(ctx)
            try:
                with budget_scope(BudgetLedger(split_budget(input_data)[1])):  # rebuilt on every replay
                    result = await self._invoke_with_deadline(wf.fn(ctx, **kwargs))
            except BaseException:
                session.discard_unawaited()
                raise
            finally:
                CURRENT_CONTEXT.reset(token)
        except CancelSignal:
            if self._control.cancel_requested:
                return await self._unwind(session, InstanceStatus.CANCELLED, None)
            if self._past_deadline():  # resumed mid-compensation after a deadline failure
                return await self._unwind(session, InstanceStatus.FAILED, self._timeout_error(wf))
            return await self._block(session, _diverged(session, "stopped before a recorded step"))
        except DeadlineSignal:
            return await self._unwind(session, InstanceStatus.FAILED, self._timeout_error(wf))
        except SuspendSignal as suspend:
            return await self._park(session, suspend)
        except PauseSignal:
            return await self._pause(session)
        except RecurSignal as recur:
            return await self._recur(wf, session, recur)
        except OutcomeUnknownSignal as unknown:
            return await self._await_outcome_answer(session, unknown)
        except ReplayEndSignal:  # pragma: no cover - only DRY sessions raise it
            raise
        except Exception as exc:
            if session.nondeterminism is not None:
                return await self._block(session, session.nondeterminism)
            return await self._unwind(session, InstanceStatus.FAILED, exc)
        if session.nondeterminism is not None:
            return await self._block(session, session.nondeterminism)
        unawaited = session.unawaited_error()
        if unawaited is not None:
            return await self._unwind(session, InstanceStatus.FAILED, unawaited)
        if session.unconsumed_history:
            return await self._block(
                session, _diverged(session, "returned before reaching every recorded step")
            )
        return await self._complete(wf, session, result)

    async def _invoke_with_deadline(self, body: Coroutine[Any, Any, Any]) -> Any:
        """Await the body; at the deadline, interrupt it (even mid-activity) with ``DeadlineSignal``."""
        deadline = self._instance.deadline_at
        if deadline is None:
            return await body
        task = asyncio.ensure_future(body)
        expired = False

        async def watchdog() -> None:
            nonlocal expired
            await self._s.clock.sleep((deadline - self._s.clock.now()).total_seconds())
            expired = True
            task.cancel()

        guard = asyncio.ensure_future(watchdog())
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if expired and not (current is not None and current.cancelling()):
                raise DeadlineSignal() from None
            task.cancel()
            await asyncio.wait({task})  # an outcome being recorded is kept before the run lets go
            raise
        finally:
            guard.cancel()

    def _past_deadline(self) -> bool:
        deadline = self._instance.deadline_at
        return deadline is not None and self._s.clock.now() >= deadline

    def _timeout_error(self, wf: Workflow[Any, Any]) -> WorkflowTimeoutError:
        return WorkflowTimeoutError(f"workflow {wf.name} passed its deadline {self._instance.deadline_at}")

    async def _complete(self, wf: Workflow[Any, Any], session: ReplaySession, result: Any) -> RunEnd:
        try:
            output = self._s.serializer.encode(wf.encode_result(result), "result")
        except (EddaError, TypeError) as exc:
            return await self._unwind(session, InstanceStatus.FAILED, exc)
        await session.flush()
        await self._finish(FinishRequest(InstanceStatus.COMPLETED, output=output))
        await self._s.hooks.workflow_complete(self._instance.instance_id, wf.name, result)
        return RunEnd.FINISHED

    async def _unwind(
        self, session: ReplaySession, status: InstanceStatus, error: Exception | None
    ) -> RunEnd:
        """Run compensations (journaled) and write the final FAILED/CANCELLED state."""
        inst = self._instance
        await session.flush()
        if session.has_compensations:
            if inst.status is not InstanceStatus.COMPENSATING and not await self._s.storage.set_status(
                self._lease, InstanceStatus.COMPENSATING, self._s.clock.now()
            ):
                raise LeaseLostSignal()
            try:
                failures = await session.run_compensations()
            except NonDeterminismError as exc:
                return await self._block(session, exc)
            if failures:
                logger.error("%d compensation(s) of %s failed; see its history", failures, inst.instance_id)
        info = error_to_info(error) if error is not None else None
        await self._end_children(session)
        await self._finish(FinishRequest(status, error=info))
        if status is InstanceStatus.CANCELLED:
            await self._s.hooks.workflow_cancelled(inst.instance_id, inst.workflow_name)
        elif error is not None:
            await self._s.hooks.workflow_failed(inst.instance_id, inst.workflow_name, error)
        return RunEnd.FINISHED

    async def _park(self, session: ReplaySession, suspend: SuspendSignal) -> RunEnd:
        """Store the instance as WAITING (until its wake-up time or deadline, or a message) and release it."""
        await session.flush()  # the recorded ``now`` the due time was computed from must be durable
        deadline = self._instance.deadline_at
        due = suspend.wake_at
        wake_at = min(due, deadline) if deadline is not None and due is not None else (due or deadline)
        now = self._s.clock.now()
        # how far the code got: just past the wait/timer it parks on (see ctx.patched)
        if suspend.reached is not None:
            reached = suspend.reached
        else:
            reached = session.positions_used if suspend.position is None else suspend.position + 1
        if suspend.wait is None or not suspend.wait.keys:
            if wake_at is None:  # pragma: no cover - a plain timer always has a due time
                raise EddaError("a wait with nothing to wait for")
            if not await self._s.storage.park(self._lease, wake_at, now, reached):
                raise LeaseLostSignal()
        else:
            wait = dataclasses.replace(suspend.wait, wake_at=wake_at)
            outcome = await self._s.storage.messaging().park(self._lease, wait, now, reached)
            if outcome is ParkOutcome.LEASE_LOST:
                raise LeaseLostSignal()
            if outcome is ParkOutcome.MESSAGE_AVAILABLE:
                return RunEnd.AGAIN  # it arrived while we were getting ready to park: take it now
        self.parked_until = wake_at
        self.parked_history = session.recorded_entries()
        if suspend.position is not None and isinstance(suspend.spec, WaitSpec):
            self.parked_wait = (suspend.position, suspend.spec)
        return RunEnd.PARKED

    async def _pause(self, session: ReplaySession) -> RunEnd:
        """Paused by an operator: keep what was recorded, give the lease up; unpausing makes it runnable.

        The stored status stays as it is (shown as PAUSED while the ``paused`` flag is set), so nothing
        here can race with an unpause: if the flag was cleared meanwhile, any worker claims it again.
        """
        await session.flush()
        if not await self._s.storage.release_lease(self._lease):
            raise LeaseLostSignal()
        logger.info("instance %s is paused", self._instance.instance_id)
        return RunEnd.PARKED

    async def _recur(self, wf: Workflow[Any, Any], session: ReplaySession, recur: RecurSignal) -> RunEnd:
        """Archive this run's history and start the next run with the new arguments, atomically."""
        try:
            encoded = wf.encode_arguments(recur.args, recur.kwargs)
            payload = self._s.serializer.encode(encoded, "input")
        except EddaError as exc:
            return await self._unwind(session, InstanceStatus.FAILED, exc)
        digest = args_hash(encoded)
        now = self._s.clock.now()
        recurred = await self._s.storage.messaging().recur(
            self._lease, payload, digest, now, self._s.keep_recur_runs
        )
        if not recurred:
            raise LeaseLostSignal()
        self._instance = dataclasses.replace(self._instance, input=payload, input_hash=digest, updated_at=now)
        self._recurred = True
        return RunEnd.AGAIN

    async def _end_children(self, session: ReplaySession) -> None:
        """Cancel the unfinished children that were started with ``cancel_with_parent`` (the default)."""
        now = self._s.clock.now()
        for child_id, with_parent in session.children():
            if not with_parent:
                continue
            outcome = await self._s.storage.request_cancel(
                child_id, "the parent workflow ended", self._instance.instance_id, now
            )
            if outcome is CancelOutcome.REQUESTED:
                self._s.local.wake((child_id,))

    async def _block(self, session: ReplaySession, error: NonDeterminismError) -> RunEnd:
        logger.error("instance %s is blocked: %s", self._instance.instance_id, error)
        await self._finish(FinishRequest(InstanceStatus.BLOCKED, blocked_reason=str(error)))
        return RunEnd.FINISHED

    async def _await_outcome_answer(self, session: ReplaySession, unknown: OutcomeUnknownSignal) -> RunEnd:
        """Park the instance as OUTCOME_UNKNOWN (no lease, no timer) until an operator answers."""
        logger.warning("instance %s waits for an answer: %s", self._instance.instance_id, unknown.reason)
        await session.flush()
        asked = started_mark(unknown.activity, unknown.attempt, asked=True)  # the step the answer is for
        outcome = await self._s.storage.record_attempt(self._lease, unknown.position, unknown.attempt, asked)
        if outcome is RecordOutcome.LEASE_LOST:
            raise LeaseLostSignal()
        await self._finish(FinishRequest(InstanceStatus.OUTCOME_UNKNOWN, blocked_reason=unknown.reason))
        return RunEnd.FINISHED

    async def _finish(self, request: FinishRequest) -> None:
        now = self._s.clock.now()
        parent = self._instance.parent_instance_id
        if parent is not None and request.status.is_finished:
            meta: dict[str, JsonValue] = {
                "status": request.status.value,
                "error": records_error_json(request.error),
                "cancel_reason": None,
            }
            finished, woken = await self._s.storage.messaging().finish_child(
                self._lease, request, now, parent, meta
            )
            if not finished:
                raise LeaseLostSignal()
            self._s.local.wake(woken)
        elif (key := self._instance.singleton_key) is not None:  # hand the key on in the same transaction
            line = self._s.storage.flow().singleton_line()
            finished, handed = await line.finish(self._lease, request, now, self._instance.workflow_name, key)
            if not finished:
                raise LeaseLostSignal()
            if handed is not None:
                self._s.local.wake((handed,))
        elif not await self._s.storage.finish(self._lease, request, now):
            raise LeaseLostSignal()
        self._s.observers.workflow_finished(self._instance.workflow_name, request.status)
        if request.status is InstanceStatus.CANCELLED:
            return  # who cancelled and why were written by someone else: waiters read the row
        self.final_record = dataclasses.replace(
            self._instance,
            status=request.status,
            output=request.output,
            error=request.error,
            blocked_reason=request.blocked_reason,
            finished_at=now if request.status.is_finished else None,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )


def _diverged(session: ReplaySession, what: str) -> NonDeterminismError:
    unreached = session.unreached_entries()
    first = unreached[0] if unreached else None
    error = NonDeterminismError(
        f"workflow {session.workflow_name!r} instance {session.instance_id}: the code {what} "
        f"(used {session.positions_used} positions; {len(unreached)} recorded positions were not reached"
        + (f", the first: {describe(first.kind, first.name)} at position {first.position}" if first else "")
        + f"). {GUARD_ADVICE}",
        position=first.position if first else None,
        expected=describe(first.kind, first.name) if first else "",
        actual=f"nothing more (the code {what})",
    )
    session.nondeterminism = error
    return error


def records_error_json(info: ErrorInfo | None) -> JsonValue:
    """The JSON form of a child's error, delivered to its parent."""
    if info is None:
        return None
    return {"type_name": info.type_name, "message": info.message}
