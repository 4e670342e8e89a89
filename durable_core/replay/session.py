"""``ReplaySession``: the runtime a workflow body runs against, matching operations to history positions.

Each durable operation takes the next position. If that position is recorded, the recorded outcome is
returned after checking that the kind, name and argument hash match (else ``NonDeterminismError`` and
the session is poisoned: nothing more executes). Otherwise the operation runs live through the engine's
:class:`LiveExecutor` - or, in UNWIND/DRY mode, the body is stopped with a signal.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, NoReturn

from durable_core.authoring.activity import Activity
from durable_core.authoring.branches import DEFERRED, BranchGroup, current_branch_group
from durable_core.authoring.runtime import ChildStart, Outgoing, WaitResult, WaitSpec, WorkflowRuntime
from durable_core.authoring.saga import CompensationCall
from durable_core.errors import NonDeterminismError, UnawaitedActivityError
from durable_core.replay.patches import describe, divergence, is_deprecated_marker, marker_value
from durable_core.replay.steps import LiveExecutor, PlannedActivity, PlannedCompensation, ReplayMode
from durable_core.replay.turns import branch_refusal, is_my_turn, matches
from durable_core.replay.unawaited import IssuedCall, IssuedCalls, unawaited_error
from durable_core.replay.wait_records import decode_wait
from durable_core.serialization import Serializer, args_hash, convert, info_to_exception, to_json_value
from durable_core.signals import CancelSignal, ReplayEndSignal, SuspendSignal
from durable_core.types import (
    HistoryEntry,
    JsonValue,
    OutgoingMessage,
    StepKind,
    StepOutcome,
    SubscriptionMode,
    WaitRegistration,
)


class ReplaySession(WorkflowRuntime):
    """Runtime of one run of one instance."""

    def __init__(
        self,
        *,
        instance_id: str,
        workflow_name: str,
        history: list[HistoryEntry],
        serializer: Serializer,
        clock_now: Callable[[], datetime],
        executor: LiveExecutor | None,
        mode: ReplayMode = ReplayMode.LIVE,
        frontier: int = 0,
    ) -> None:
        self.instance_id = instance_id
        self.workflow_name = workflow_name
        self.mode = mode
        self._recorded = {entry.position: entry for entry in history}
        self._last_recorded = max(self._recorded, default=-1)
        self._serializer = serializer
        self._clock_now = clock_now
        self._executor = executor
        self._next = 0
        self._pending: list[HistoryEntry] = []
        self._compensations: list[tuple[CompensationCall, Any, str]] = []
        self.nondeterminism: NonDeterminismError | None = None
        self.live_steps = 0
        self._issued = IssuedCalls()
        # positions an earlier run of this history reached (it parked there): ctx.patched answers False
        self._frontier = frontier
        self._patches: dict[str, bool] = {}  # ctx.patched answers of this run, by change id
        self._groups: list[BranchGroup] = []  # open groups of concurrent branches (ctx.parallel)

    # -- WorkflowRuntime -------------------------------------------------------------------
    @property
    def is_replaying(self) -> bool:
        """True while the next position still has a recorded outcome."""
        return self._next <= self._last_recorded

    def clock_now(self) -> datetime:
        """The engine clock's time."""
        return self._clock_now()

    def next_position(self) -> int:
        """Reserve the next position (stepping over markers of patches the code no longer mentions)."""
        self._refuse_while_branches("this durable operation")
        return self._take_next()

    def _take_next(self) -> int:
        self._skip_deprecated_markers()
        position = self._next
        self._next += 1
        return position

    def activity_position(self) -> int:
        """The position of an activity being created: :data:`DEFERRED` in a branch (claimed when it runs)."""
        group = current_branch_group()
        if group is not None and group.runtime is self:
            return DEFERRED
        return self.next_position()

    def open_branch_group(self) -> BranchGroup:
        """Open a group of concurrent branches (see :mod:`durable_core.authoring.branches`)."""
        self._refuse_while_branches("opening branches")
        group = BranchGroup(self)
        self._groups.append(group)
        return group

    def close_branch_group(self, group: BranchGroup, *, completed: bool) -> None:
        """Close ``group``; after it ``completed``, mark positions its cancelled activities left empty.

        A cancelled activity (a sibling failed, the graph ended) took a position and recorded nothing.
        A deprecated marker there lets the code after the group step over it on replay, as if the position
        had never been taken, whether or not the replay gets as far as creating that activity again.
        """
        self._groups.remove(group)
        if not completed or self.mode is not ReplayMode.LIVE:
            return
        for position in group.claimed:
            if position not in self._recorded:
                entry = self._plain_entry(
                    position, StepKind.PATCH, "edda.cancelled-branch-step", marker_value(True)
                )
                self._recorded[position] = entry
                self._pending.append(entry)

    async def claim_position(self, kind: StepKind, name: str, digest: str) -> int:
        """Take a position for an operation of a branch: the next one live, its recorded one on replay."""
        group = current_branch_group()
        assert group is not None and group.runtime is self
        while True:
            self._raise_if_poisoned()
            self._skip_deprecated_markers()
            position = self._next
            recorded = self._recorded.get(position)
            if is_my_turn(self._recorded, self._last_recorded, position, (kind, name, digest)):
                self._next += 1
                group.record_claim(position)
                return position
            await group.wait_turn(functools.partial(self._stuck, position, kind, name, digest, recorded))

    def _stuck(
        self, position: int, kind: StepKind, name: str, digest: str, recorded: HistoryEntry | None
    ) -> None:
        if recorded is None:
            self._next += 1  # an empty position nobody running claims: a cancelled step, skip it
            return
        self._diverge(position, kind, name, digest, recorded)

    def _refuse_while_branches(self, what: str) -> None:
        if self._groups:
            raise branch_refusal(what, inside=current_branch_group() is not None)

    def track_call(self, call: Coroutine[Any, Any, Any], name: str, position: int, location: str) -> None:
        """Remember an activity call until its coroutine starts."""
        self._issued.add(IssuedCall(call, name, position, location))

    def unawaited_error(self) -> UnawaitedActivityError | None:
        """After the body returned: the error naming activity calls never awaited (None if every ran)."""
        calls = self._issued.take_unawaited()
        return unawaited_error(self.workflow_name, self.instance_id, calls) if calls else None

    def discard_unawaited(self) -> None:
        """After the body stopped another way: close calls nobody will run (no "never awaited" warning)."""
        self._issued.discard()

    @property
    def positions_used(self) -> int:
        """How many positions the code has taken so far."""
        return self._next

    @property
    def unconsumed_history(self) -> int:
        """Recorded positions the code has not reached (non-zero after completion means divergence)."""
        return len(self.unreached_entries())

    def unreached_entries(self) -> list[HistoryEntry]:
        """Recorded entries past the positions the code took (markers of deprecated patches excepted)."""
        return [
            entry
            for position, entry in sorted(self._recorded.items())
            if position >= self._next and not is_deprecated_marker(entry, self._serializer)
        ]

    def patched(self, change_id: str, *, deprecated: bool = False) -> bool:
        """Answer ``ctx.patched(change_id)`` once per run; record the marker on the new path.

        True when the marker is recorded at the next position, or when no earlier run reached this
        position (then the marker is recorded now). False, consuming nothing, when the position holds
        another entry or an earlier run parked past it: that run was recorded by code without the patch.
        """
        self._raise_if_poisoned()
        self._refuse_while_branches("ctx.patched()")
        known = self._patches.get(change_id)
        if known is not None:
            return known
        self._skip_deprecated_markers(keep=change_id)
        position = self._next
        recorded = self._recorded.get(position)
        if recorded is not None:
            taken = recorded.kind is StepKind.PATCH and recorded.name == change_id
            if taken:
                self._next += 1
        elif position < self._frontier:
            taken = False
        else:
            self._require_live()
            taken = True
            entry = self._plain_entry(
                self.next_position(), StepKind.PATCH, change_id, marker_value(deprecated)
            )
            self._recorded[position] = entry
            self._pending.append(entry)
        self._patches[change_id] = taken
        return taken

    def _check_not_parked_here(self, position: int, kind: StepKind, name: str, digest: str = "") -> None:
        """An earlier run parked on a wait or timer at ``position``: other code asking for more is a change."""
        if position == self._frontier - 1 and self.mode is not ReplayMode.UNWIND:
            self._diverge(position, kind, name, digest, None)

    def _skip_deprecated_markers(self, keep: str | None = None) -> None:
        while (entry := self._recorded.get(self._next)) is not None and entry.name != keep:
            if not is_deprecated_marker(entry, self._serializer):
                return
            self._next += 1

    async def run_activity(
        self,
        position: int,
        activity: Activity[Any, Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        activity_id: str | None,
    ) -> Any:
        """Serve the activity from history or execute it live.

        In a branch (``position`` is :data:`DEFERRED`) the position is claimed now, and the outcome is
        handed back only after the group's activities that took earlier positions have ended: branches
        see outcomes in position order, live and on replay alike, so what they do next (and what a
        pydantic-graph join collects) does not depend on which activity happened to finish first.
        """
        self._raise_if_poisoned()
        digest = args_hash(_arguments_json(args, kwargs))
        claimed = position
        try:
            if position != DEFERRED:
                value, aid = await self._activity_at(position, activity, args, kwargs, activity_id, digest)
            else:
                claimed = await self.claim_position(StepKind.ACTIVITY, activity.name, digest)
                value, aid = await self._in_branch(claimed, activity, args, kwargs, activity_id, digest)
        except asyncio.CancelledError:  # interrupted: an outcome recorded before that still counts
            self._keep_compensation(claimed, activity, args, kwargs, activity_id)
            raise
        if activity.compensation is not None:
            call = CompensationCall(activity.compensation, args, dict(kwargs))
            self._compensations.append((call, value, aid))
        return value

    async def _in_branch(
        self,
        position: int,
        activity: Activity[Any, Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        activity_id: str | None,
        digest: str,
    ) -> tuple[Any, str]:
        """Run the activity at a claimed branch position; hand its outcome back in position order."""
        group = current_branch_group()
        assert group is not None
        try:
            try:
                value, aid = await self._activity_at(position, activity, args, kwargs, activity_id, digest)
            except Exception:
                await group.wait_for_earlier(position)
                raise
            await group.wait_for_earlier(position)
        finally:
            group.finish(position)
        return value, aid

    def keep_interrupted(self, entry: HistoryEntry) -> None:
        """Keep an outcome the engine recorded although the run was interrupted while recording it.

        Its activity's body had ended, so it happened: the outcome is in the history, and an activity
        that succeeded has its compensation registered (:meth:`run_activity`) before the unwind.
        """
        self._recorded[entry.position] = entry
        self.live_steps += entry.kind is StepKind.ACTIVITY  # compensations are not counted as live steps

    def _keep_compensation(
        self,
        position: int,
        activity: Activity[Any, Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        activity_id: str | None,
    ) -> None:
        """Register the compensation of an activity recorded as succeeded when its run was interrupted."""
        recorded = self._recorded.get(position) if position != DEFERRED else None
        if activity.compensation is None or recorded is None or recorded.outcome is not StepOutcome.OK:
            return
        call = CompensationCall(activity.compensation, args, dict(kwargs))
        value = self._outcome(recorded, activity)
        self._compensations.append((call, value, activity_id or f"{activity.name}:{position}"))

    async def _activity_at(
        self,
        position: int,
        activity: Activity[Any, Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        activity_id: str | None,
        digest: str,
    ) -> tuple[Any, str]:
        aid = activity_id or f"{activity.name}:{position}"
        recorded = self._recorded.get(position)
        if recorded is not None:
            self._verify(position, StepKind.ACTIVITY, activity.name, digest, recorded)
            value = self._outcome(recorded, activity)
            if self._executor is not None:
                await self._executor.on_replayed_activity(self.instance_id, aid, activity.name, value)
            return value, aid
        self._check_not_parked_here(position, StepKind.ACTIVITY, activity.name, digest)
        executor = self._require_live()
        await self._flush()
        step = PlannedActivity(position, activity, args, kwargs, digest, aid)
        recorded = await executor.execute_activity(self, step)
        self._recorded[position] = recorded
        self.live_steps += 1
        return self._outcome(recorded, activity), aid

    def side_effect(self, kind: StepKind, produce: Callable[[], JsonValue]) -> JsonValue:
        """Serve a recorded ``now``/``uuid``/``random`` value or produce and buffer a new one."""
        self._raise_if_poisoned()
        position = self.next_position()
        recorded = self._recorded.get(position)
        if recorded is not None:
            self._verify(position, kind, kind.value, "", recorded)
            return self._serializer.decode(recorded.result)  # type: ignore[no-any-return]
        self._check_not_parked_here(position, kind, kind.value)
        self._require_live()
        value = produce()
        entry = HistoryEntry(
            instance_id=self.instance_id,
            position=position,
            kind=kind,
            name=kind.value,
            args_hash="",
            outcome=StepOutcome.OK,
            result=self._serializer.encode(value),
        )
        self._recorded[position] = entry
        self._pending.append(entry)
        return value

    async def wait_timer(self, position: int, due: datetime, name: str) -> None:
        """Return if the timer is recorded as fired; record it when due; else suspend until ``due``.

        A fired timer is buffered like a side effect (flushed before the next live step or the end):
        if the run stops before that, the next run finds it due again and records the same entry.
        """
        self._raise_if_poisoned()
        recorded = self._recorded.get(position)
        if recorded is not None:
            self._verify(position, StepKind.TIMER, name, "", recorded)
            return
        self._require_live()
        if self._clock_now() < due:
            raise SuspendSignal(due, None, position)
        entry = HistoryEntry(
            instance_id=self.instance_id,
            position=position,
            kind=StepKind.TIMER,
            name=name,
            args_hash="",
            outcome=StepOutcome.OK,
            result=self._serializer.encode(due.isoformat()),
            recorded_at=self._clock_now(),
        )
        self._recorded[position] = entry
        self._pending.append(entry)
        self.live_steps += 1

    def register_compensation(self, call: CompensationCall) -> None:
        """Remember a compensation registered from the body."""
        self._compensations.append((call, None, f"{call.compensation.name}:{self._next}"))

    async def wait_for(self, position: int, spec: WaitSpec) -> WaitResult:
        """Serve the recorded end of the wait, or take a message now, or record a timeout, or suspend."""
        self._raise_if_poisoned()
        recorded = self._recorded.get(position)
        if recorded is None:
            executor = self._require_live()
            await self._flush()
            recorded = await executor.take_message(self, position, spec)
            if recorded is None:
                if spec.due is None or self._clock_now() < spec.due:
                    registration = WaitRegistration(spec.keys, spec.due, spec.schemas)
                    raise SuspendSignal(spec.due, registration, position, spec)
                recorded = await executor.end_wait(self, position, spec)
            self._recorded[position] = recorded
            self.live_steps += 1
        self._verify(position, StepKind.WAIT, spec.name, "", recorded)
        return decode_wait(self._serializer, recorded.result)

    async def send(self, position: int, name: str, message: Outgoing) -> None:
        """Send once: skip when recorded, else store the message and the entry in one transaction."""
        self._raise_if_poisoned()
        recorded = self._recorded.get(position)
        if recorded is not None:
            self._verify(position, StepKind.SEND, name, "", recorded)
            return
        self._check_not_parked_here(position, StepKind.SEND, name)
        executor = self._require_live()
        await self._flush()
        entry = self._plain_entry(position, StepKind.SEND, name, None)
        self._recorded[position] = await executor.send_message(entry, self._outgoing(message))
        self.live_steps += 1

    async def send_now(self, message: Outgoing) -> None:
        """Send without journaling (from an activity)."""
        await self._require_live().send_unjournaled(self._outgoing(message))

    async def subscription(self, position: int, channel: str, mode: SubscriptionMode | None) -> None:
        """Subscribe/unsubscribe once (idempotent, so a crash before recording just repeats it)."""
        self._raise_if_poisoned()
        name = f"{'subscribe' if mode else 'unsubscribe'}:{channel}"
        recorded = self._recorded.get(position)
        if recorded is not None:
            self._verify(position, StepKind.SEND, name, "", recorded)
            return
        self._check_not_parked_here(position, StepKind.SEND, name)
        executor = self._require_live()
        await self._flush()
        await executor.set_subscription(self.instance_id, channel, mode)
        entry = self._plain_entry(position, StepKind.SEND, name, None if mode is None else mode.value)
        self._recorded[position] = entry
        self._pending.append(entry)
        await self._flush()
        self.live_steps += 1

    async def start_child(self, position: int, child: ChildStart) -> str:
        """Create the child once; the recorded entry holds its id and whether it ends with the parent."""
        self._raise_if_poisoned()
        name = child.workflow_name
        recorded = self._recorded.get(position)
        if recorded is None:
            self._check_not_parked_here(position, StepKind.CHILD, name)
            executor = self._require_live()
            await self._flush()
            child_id = await executor.create_child(self.instance_id, child)
            value: JsonValue = {"instance_id": child_id, "cancel_with_parent": child.cancel_with_parent}
            recorded = self._plain_entry(position, StepKind.CHILD, name, value)
            self._recorded[position] = recorded
            self._pending.append(recorded)
            await self._flush()
            self.live_steps += 1
        self._verify(position, StepKind.CHILD, name, "", recorded)
        stored = self._serializer.decode(recorded.result)
        return str(stored["instance_id"])

    def children(self) -> list[tuple[str, bool]]:
        """(child id, cancel_with_parent) of every child recorded in this run's history."""
        found: list[tuple[str, bool]] = []
        for entry in self._recorded.values():
            if entry.kind is StepKind.CHILD and entry.outcome is StepOutcome.OK:
                value = self._serializer.decode(entry.result)
                if isinstance(value, dict) and "instance_id" in value:
                    found.append((str(value["instance_id"]), bool(value.get("cancel_with_parent", True))))
        return found

    def _outgoing(self, message: Outgoing) -> OutgoingMessage:
        return OutgoingMessage(
            key=message.key,
            data=self._serializer.encode(message.data),
            metadata=message.metadata,
            target_instance_id=message.target_instance_id,
        )

    def _plain_entry(self, position: int, kind: StepKind, name: str, value: JsonValue) -> HistoryEntry:
        return HistoryEntry(
            instance_id=self.instance_id,
            position=position,
            kind=kind,
            name=name,
            args_hash="",
            outcome=StepOutcome.OK,
            result=self._serializer.encode(value),
            recorded_at=self._clock_now(),
        )

    def recorded_entries(self) -> list[HistoryEntry]:
        """Every entry known to this session (recorded before or during this run), by position."""
        return [self._recorded[p] for p in sorted(self._recorded)]

    @property
    def serializer(self) -> Serializer:
        """The app's serializer (the engine builds wait entries with it)."""
        return self._serializer

    # -- used by the engine's runner ---------------------------------------------------------
    async def flush(self) -> None:
        """Record buffered side-effect values now (before finishing or before a live activity)."""
        await self._flush()

    @property
    def has_compensations(self) -> bool:
        """Whether any compensation was registered."""
        return bool(self._compensations)

    async def run_compensations(self) -> int:
        """Run registered compensations in reverse order; already journaled ones are skipped.

        Returns:
            How many compensations ended in failure (each failure is recorded, the rest still run).
        """
        failures = 0
        for call, result, aid in reversed(self._compensations):
            position = self.next_position()
            name = call.compensation.name
            recorded = self._recorded.get(position)
            if recorded is None:
                if self._executor is None or self.mode is ReplayMode.DRY:
                    raise ReplayEndSignal()
                await self._flush()
                recorded = await self._executor.execute_compensation(
                    self, PlannedCompensation(position, call, result, aid)
                )
                self._recorded[position] = recorded
            else:
                self._verify(position, StepKind.COMPENSATION, name, "", recorded)
            failures += recorded.outcome is StepOutcome.ERROR
        self._compensations.clear()
        return failures

    # -- internals -------------------------------------------------------------------------
    def _require_live(self) -> LiveExecutor:
        if self._executor is None or self.mode is ReplayMode.DRY:
            raise ReplayEndSignal()
        if self.mode is ReplayMode.UNWIND:
            raise CancelSignal()
        self._executor.check_interrupts()
        return self._executor

    async def _flush(self) -> None:
        if self._pending and self._executor is not None:
            pending, self._pending = self._pending, []
            await self._executor.flush(pending)

    def _raise_if_poisoned(self) -> None:
        if self.nondeterminism is not None:
            raise self.nondeterminism

    def _verify(self, position: int, kind: StepKind, name: str, digest: str, recorded: HistoryEntry) -> None:
        if matches(recorded, kind, name, digest):
            return
        self._diverge(position, kind, name, digest, recorded)

    def _diverge(
        self, position: int, kind: StepKind, name: str, digest: str, recorded: HistoryEntry | None
    ) -> NoReturn:
        """Poison the session with the error for code asking for ``kind name`` at ``position``."""
        self.nondeterminism = divergence(
            workflow_name=self.workflow_name,
            instance_id=self.instance_id,
            position=position,
            actual=describe(kind, name, digest),
            recorded=recorded,
            decided=self._patches,
        )
        raise self.nondeterminism

    def _outcome(self, entry: HistoryEntry, activity: Activity[Any, Any]) -> Any:
        if entry.outcome is StepOutcome.ERROR and entry.error is not None:
            raise info_to_exception(entry.error)
        value = self._serializer.decode(entry.result)
        return convert(value, activity.shape.return_annotation)


def _arguments_json(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> JsonValue:
    """JSON form of activity arguments for hashing; unserializable values hash by type name only."""
    try:
        return to_json_value({"args": list(args), "kwargs": dict(kwargs)})
    except TypeError:
        return {
            "args": [_stable_repr(a) for a in args],
            "kwargs": {k: _stable_repr(v) for k, v in sorted(kwargs.items())},
        }


def _stable_repr(value: Any) -> JsonValue:
    try:
        return to_json_value(value)
    except TypeError:
        return f"<{type(value).__module__}.{type(value).__qualname__}>"
