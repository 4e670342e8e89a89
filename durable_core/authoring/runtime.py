"""The abstract runtime that authoring objects talk to; the engine installs the implementation.

This keeps the authoring API (decorators, ``WorkflowContext``) free of storage and SQLAlchemy.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from durable_core.types import JsonValue, OutboxEvent, StepKind, SubscriptionMode, WaitKey

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from durable_core.authoring.activity import Activity
    from durable_core.authoring.branches import BranchGroup
    from durable_core.authoring.saga import CompensationCall
    from durable_core.authoring.streams import OutputStream


#: :attr:`WaitResult.index` of a wait that ended because its due time passed first
TIMED_OUT: Final = -1


@dataclass(frozen=True, slots=True)
class WaitSpec:
    """A durable wait: for the first message on any of ``keys``, or until ``due``.

    Attributes:
        name: recorded in history and checked on replay (describe what is waited for).
        keys: event types / channels / children listened to.
        due: when the wait ends without a message (timeout or timer), or None.
        schemas: JSON schema of the expected data per event type (shown to whoever must answer).
        retain: keys that stay registered after this wait ends (``wait_all``'s pending alternatives),
            so an event by type for them is not missed before the next wait starts.
    """

    name: str
    keys: tuple[WaitKey, ...]
    due: datetime | None = None
    schemas: tuple[tuple[str, JsonValue], ...] = ()
    retain: tuple[WaitKey, ...] = ()


@dataclass(frozen=True, slots=True)
class WaitResult:
    """How a wait ended.

    Attributes:
        index: which of ``WaitSpec.keys`` delivered, or :data:`TIMED_OUT`.
        data: the message's data (JSON value or bytes), None on timeout.
        metadata: the message's attributes (CloudEvents attributes, channel, sender...).
    """

    index: int
    data: Any = None
    metadata: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message a workflow sends: ``data`` is any JSON-able value or bytes (encoded by the runtime)."""

    key: WaitKey
    data: Any
    metadata: dict[str, JsonValue]
    target_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChildStart:
    """A child workflow to start from a workflow (idempotent on ``instance_id``)."""

    workflow_name: str
    arguments: dict[str, JsonValue]
    instance_id: str
    cancel_with_parent: bool = True


class RunMemo:
    """Values cached for this run of the workflow body (``ctx.run_memo``), by key.

    A fresh, empty memo comes with every execution of the body: each resume (after a timer, an event, a
    crash or a restart) replays the body from the top with a new memo, and a run started by
    ``ctx.recur`` starts empty too. It is replay-safe only for values derived from recorded results: fill
    it right after the durable step that produced the value (the same step is replayed on every
    execution, so the memo is filled at the same point each time), never from clocks, randomness or I/O.

    Keys are strings; prefix them with your library's name (``"edda_mcp.list_tools:inventory"``).
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, object] = {}

    def get(self, key: str) -> object | None:
        """The value stored under ``key`` in this run, or None."""
        return self._values.get(key)

    def put(self, key: str, value: object) -> None:
        """Store ``value`` under ``key`` for the rest of this run (replacing any earlier value)."""
        self._values[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<RunMemo {sorted(self._values)}>"


class WorkflowRuntime(abc.ABC):
    """What a running (or replaying) workflow instance offers to the code of its workflow."""

    instance_id: str
    workflow_name: str
    # created on first use, so runtimes need not call a base __init__ (see run_memo)
    _run_memo: RunMemo | None = None

    @property
    def run_memo(self) -> RunMemo:
        """The :class:`RunMemo` of this execution of the workflow body (one runtime per execution)."""
        if self._run_memo is None:
            self._run_memo = RunMemo()
        return self._run_memo

    @property
    @abc.abstractmethod
    def is_replaying(self) -> bool:
        """True while the code is re-executing positions that already have recorded outcomes."""

    @abc.abstractmethod
    def clock_now(self) -> datetime:
        """The engine clock's current time (used to produce ``ctx.now()``)."""

    @abc.abstractmethod
    def next_position(self) -> int:
        """Reserve the next history position (called synchronously when an operation is created)."""

    @abc.abstractmethod
    def activity_position(self) -> int:
        """The position of an activity being created (``DEFERRED`` inside a branch: claimed when it runs)."""

    @abc.abstractmethod
    def open_branch_group(self) -> BranchGroup:
        """Open a group of concurrent branches whose activities replay in their recorded order."""

    @abc.abstractmethod
    def close_branch_group(self, group: BranchGroup, *, completed: bool) -> None:
        """Close ``group`` (``completed``: its code ended normally or with an ordinary exception)."""

    @abc.abstractmethod
    async def run_activity(
        self,
        position: int,
        activity: Activity[Any, Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        activity_id: str | None,
    ) -> Any:
        """Return the activity's recorded outcome at ``position``, or execute and record it."""

    @abc.abstractmethod
    def track_call(self, call: Coroutine[Any, Any, Any], name: str, position: int, location: str) -> None:
        """Remember an activity call until its coroutine starts (calls never awaited fail the run).

        Args:
            call: the coroutine :meth:`run_activity` returned.
            name: the activity's name.
            position: the history position the call took.
            location: ``file:line`` of the call in the workflow's source.
        """

    @abc.abstractmethod
    def patched(self, change_id: str, *, deprecated: bool = False) -> bool:
        """Answer ``ctx.patched(change_id)`` for this run, recording its marker on the new code path."""

    @abc.abstractmethod
    def side_effect(self, kind: StepKind, produce: Callable[[], JsonValue]) -> JsonValue:
        """Return the recorded value at the next position, or ``produce()`` it and record it."""

    @abc.abstractmethod
    async def wait_timer(self, position: int, due: datetime, name: str) -> None:
        """Return once the timer at ``position`` has fired (recorded); suspend the instance until ``due``."""

    @abc.abstractmethod
    def register_compensation(self, call: CompensationCall) -> None:
        """Remember a compensation to run (in reverse order) if the workflow fails or is cancelled."""

    @abc.abstractmethod
    async def wait_for(self, position: int, spec: WaitSpec) -> WaitResult:
        """Return the recorded end of the wait at ``position``, or take a message now, or suspend."""

    @abc.abstractmethod
    async def send(self, position: int, name: str, message: Outgoing) -> None:
        """Send ``message`` once: recorded at ``position`` in the transaction that stores it."""

    @abc.abstractmethod
    async def send_now(self, message: Outgoing) -> None:
        """Send ``message`` without journaling it (from inside an activity: at least once)."""

    @abc.abstractmethod
    async def subscription(self, position: int, channel: str, mode: SubscriptionMode | None) -> None:
        """Subscribe (``mode`` set) or unsubscribe (None) the instance, journaled at ``position``."""

    @abc.abstractmethod
    async def start_child(self, position: int, child: ChildStart) -> str:
        """Create the child instance once (recorded at ``position``) and return its id."""


class ActivityScope(abc.ABC):
    """What an activity attempt (or compensation) sees through its context."""

    activity_id: str
    attempt: int
    position: int  # the step's history position (stable across attempts and crashes)

    @property
    @abc.abstractmethod
    def session(self) -> AsyncSession:
        """A session in the transaction that will also record this activity's history entry."""

    async def add_outbox_event(self, event: OutboxEvent) -> None:
        """Write ``event`` to the outbox in the transaction that will record this activity."""
        raise NotImplementedError("this runtime has no transactional outbox")

    def stream(self, name: str) -> OutputStream:
        """The writer of output stream ``name`` for this attempt."""
        raise NotImplementedError("this runtime has no output streams")
