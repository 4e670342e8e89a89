"""Run control, the part of :class:`~durable_core.engine.app.EddaApp`'s API an operator steers runs with.

``retry`` / ``fork`` / ``pause`` / ``unpause`` / ``terminate`` and the journal they write
(``control_log``). Each is one locked transaction in storage (see
:mod:`durable_core.storage.run_control` for why a stale worker cannot undo it); this mixin validates
the call, then tells the local dispatcher and the other processes what changed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from durable_core.authoring.catalog import Catalog
from durable_core.clock import Clock
from durable_core.engine.services import EngineServices
from durable_core.engine.validation import existing_instance_id, validate_instance_id
from durable_core.errors import InstanceNotFoundError, RunControlError, WorkflowTerminatedError
from durable_core.run_control import ControlEntry, ControlOutcome, RetrySpec, TerminateSpec
from durable_core.serialization import args_hash, error_to_info
from durable_core.storage.base import Storage
from durable_core.types import HistoryEntry, InstanceRecord, NewInstance, StepKind
from durable_core.validation import MAX_ID_LENGTH, MAX_REASON_LENGTH, check_text

if TYPE_CHECKING:
    from durable_core.engine.dispatcher import Dispatcher

__all__ = ["RunControlAPI", "fork_position"]


def fork_position(instance_id: str, history: list[HistoryEntry], at: int | str) -> int:
    """The first position a fork at ``at`` does not copy: ``at`` itself, or the step named ``at``.

    Raises:
        RunControlError: no such position / step, or the cut would keep compensations.
    """
    if isinstance(at, bool) or not isinstance(at, int | str):
        raise RunControlError(
            f"at must be a position (int) or a step name (str), got {at!r}", instance_id, "fork"
        )
    if isinstance(at, str):
        named = [e.position for e in history if e.name == at and e.kind.is_step]
        if not named:
            steps = sorted({e.name for e in history if e.kind.is_step})
            raise RunControlError(
                f"instance {instance_id!r} has no step named {at!r} in its history (its steps: {steps})",
                instance_id,
                "fork",
            )
        position = named[0]
    else:
        position = at
    if not 0 <= position <= len(history):
        raise RunControlError(
            f"instance {instance_id!r} has positions 0..{len(history) - 1}: cannot fork at {position}",
            instance_id,
            "fork",
        )
    if any(e.kind is StepKind.COMPENSATION for e in history[:position]):
        raise RunControlError(
            f"fork of {instance_id!r} at {position} would copy compensations; fork before the failed step",
            instance_id,
            "fork",
        )
    return position


class RunControlAPI:
    """Retry, fork, pause / unpause and terminate instances; read the journal of those actions."""

    _storage: Storage
    _clock: Clock
    _catalog: Catalog
    _services: EngineServices
    _dispatcher: Dispatcher
    _run_workers: bool
    service_name: str

    async def _runnable_now(self, instance_id: str) -> None:
        """Let the instance run here, or in the process that claims it first (like ``EddaApp._wake``)."""
        if self._run_workers:
            self._dispatcher.hint(instance_id)
        await self._storage.messaging().announce((instance_id,))

    async def _record_of(self, instance_id: str) -> InstanceRecord:
        record = await self._storage.get_instance(instance_id)
        if record is None:
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        return record

    def _control_args(self, instance_id: str, by: str, reason: str) -> str:
        existing_instance_id(instance_id)
        check_text("by", by, limit=MAX_ID_LENGTH)
        if reason:
            check_text("reason", reason, limit=MAX_REASON_LENGTH)
        return instance_id

    def _deadline(self, workflow_name: str, now: datetime) -> datetime | None:
        wf = self._catalog.get(workflow_name) if workflow_name in self._catalog else None
        return now + timedelta(seconds=wf.timeout) if wf is not None and wf.timeout else None

    async def retry(self, instance_id: str, *, by: str = "api", reason: str = "") -> ControlOutcome:
        """Run a FAILED instance again from its failed step, with a fresh attempt budget.

        Every completed step is kept (replayed, not re-run); the failed activity runs again with its
        whole retry policy; the workflow's timeout counts again from now. When the body itself raised
        after its last step (a bug, since fixed), the run continues after that step.

        Args:
            instance_id: the failed instance.
            by: who asks (journaled, see :meth:`control_log`).
            reason: why (journaled).

        Returns:
            ``APPLIED``; ``ALREADY_APPLIED`` when it was retried already and has not failed again.

        Raises:
            InstanceNotFoundError: unknown id.
            RunControlError: it is not failed (running, completed, cancelled) or ran its compensations.
        """
        self._control_args(instance_id, by, reason)
        record = await self._record_of(instance_id)
        now = self._clock.now()
        spec = RetrySpec(by, reason, now, self._deadline(record.workflow_name, now))
        outcome, _ = await self._storage.run_control().retry(instance_id, spec)
        if outcome is ControlOutcome.APPLIED:
            await self._runnable_now(instance_id)
        return outcome

    async def fork(
        self,
        instance_id: str,
        at: int | str,
        *,
        new_instance_id: str | None = None,
        arguments: dict[str, Any] | None = None,
        by: str = "api",
        reason: str = "",
    ) -> str:
        """Start a new instance whose history is a copy of ``instance_id``'s before ``at``.

        The fork replays the copied steps and runs live from ``at`` on, with the current code (LLM
        "time travel": re-run an agent from step N with fixed code or other input). The original is
        untouched. The fork records its origin (``forked_from``, ``forked_at`` on its record).

        Args:
            instance_id: the instance to fork (any status).
            at: the first position to run again, or the name of a step (its first occurrence).
            new_instance_id: the fork's id; doubles as the idempotency key (the same fork again returns
                it unchanged; an id used otherwise is an ``InstanceConflictError``). Default: a new id.
            arguments: the fork's workflow arguments instead of the original's (validated); copied
                steps whose arguments then differ block the fork with a determinism error.
            by: who asks (journaled on the fork and on the original).
            reason: why (journaled).

        Returns:
            The fork's instance id.

        Raises:
            InstanceNotFoundError / RunControlError (no such position or step) / InputValidationError.
        """
        self._control_args(instance_id, by, reason)
        source = await self._record_of(instance_id)
        history = await self._storage.load_history(instance_id)
        position = fork_position(instance_id, history, at)
        new_id = validate_instance_id(new_instance_id) if new_instance_id is not None else uuid.uuid4().hex
        payload, digest = source.input, source.input_hash
        if arguments is not None:
            encoded = self._catalog.get(source.workflow_name).encode_arguments((), dict(arguments))
            payload = self._services.serializer.encode(encoded, "input")
            digest = args_hash(encoded)
        now = self._clock.now()
        new = NewInstance(
            instance_id=new_id,
            workflow_name=source.workflow_name,
            input=payload,
            input_hash=digest,
            service_name=self.service_name,
            now=now,
            deadline_at=self._deadline(source.workflow_name, now)
            or (now + (source.deadline_at - source.created_at) if source.deadline_at else None),
        )
        outcome = await self._storage.run_control().fork(new, instance_id, position, by, reason)
        if outcome is ControlOutcome.APPLIED:
            await self._runnable_now(new_id)
        return new_id

    async def pause(self, instance_id: str, *, by: str = "api", reason: str = "") -> ControlOutcome:
        """Pause an instance at its next step boundary; it holds no worker until :meth:`unpause`.

        An activity running now finishes and is recorded, then the run stops. A waiting instance is
        just marked. While paused, events and messages sent to it are kept in its mailbox and its
        timers do not fire; on unpause it takes them. Its status reads PAUSED (for a running one, from
        now on, even while its current activity finishes). A pause survives restarts. A cancel or a
        terminate still goes ahead.

        Raises:
            InstanceNotFoundError: unknown id.
            RunControlError: it is finished, blocked or waits for an outcome answer.
        """
        self._control_args(instance_id, by, reason)
        outcome = await self._storage.run_control().set_paused(
            instance_id, True, by, reason, self._clock.now()
        )
        if outcome is ControlOutcome.APPLIED:
            await self._tell_runs(instance_id, paused=True)
        return outcome

    async def unpause(self, instance_id: str, *, by: str = "api", reason: str = "") -> ControlOutcome:
        """Let a paused instance run again: it continues where it stopped, takes its mail, fires due timers.

        Raises:
            InstanceNotFoundError: unknown id.
        """
        self._control_args(instance_id, by, reason)
        now = self._clock.now()
        outcome = await self._storage.run_control().set_paused(instance_id, False, by, reason, now)
        if outcome is ControlOutcome.APPLIED:
            await self._tell_runs(instance_id, paused=False)
        return outcome

    async def _tell_runs(self, instance_id: str, *, paused: bool) -> None:
        running_here = self._run_workers and self._dispatcher.request_pause(instance_id, paused)
        if paused:  # a run in another process learns of it now (NOTIFY) or at its next lease renewal
            await self._storage.messaging().announce((instance_id,))
        elif not running_here:
            await self._runnable_now(instance_id)

    async def terminate(self, instance_id: str, reason: str = "", *, by: str = "api") -> ControlOutcome:
        """End an unfinished instance (running, waiting, blocked, paused...) as FAILED at once.

        No compensation runs. A worker running it is fenced out: whatever it finishes is not recorded,
        and the outcome cannot be overwritten. The recorded error is a :class:`WorkflowTerminatedError`
        naming who and why; a parent waiting for it sees a failed child.

        Returns:
            ``APPLIED``; ``ALREADY_APPLIED`` when it was terminated already.

        Raises:
            InstanceNotFoundError: unknown id.
            RunControlError: it already completed, failed or was cancelled.
        """
        self._control_args(instance_id, by, reason)
        now = self._clock.now()
        why = f"terminated by {by}" + (f": {reason}" if reason else "")
        spec = TerminateSpec(by, reason, now, error_to_info(WorkflowTerminatedError(why)))
        outcome, woken = await self._storage.run_control().terminate(instance_id, spec)
        if outcome is ControlOutcome.APPLIED:
            if self._run_workers:
                self._dispatcher.stop_run(instance_id)
            self._services.local.wake(woken)
            await self._storage.messaging().announce((instance_id,))
        return outcome

    async def control_log(self, instance_id: str, limit: int = 100) -> list[ControlEntry]:
        """The run-control actions applied to an instance (who, why, when, what), oldest first.

        Raises:
            InstanceNotFoundError: unknown id.
        """
        await self._record_of(existing_instance_id(instance_id))
        return await self._storage.run_control().control_log(instance_id, limit)
