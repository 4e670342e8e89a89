"""Planned live operations handed from the replay session to the engine's executor."""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from durable_core.types import HistoryEntry, OutgoingMessage, SubscriptionMode

if TYPE_CHECKING:
    from durable_core.authoring.activity import Activity
    from durable_core.authoring.runtime import ChildStart, WaitSpec
    from durable_core.authoring.saga import CompensationCall
    from durable_core.replay.session import ReplaySession


class ReplayMode(enum.Enum):
    """What the session does on reaching a position with no recorded outcome."""

    LIVE = "live"  # execute it
    UNWIND = "unwind"  # stop the body with CancelSignal (cancellation / compensation after a crash)
    DRY = "dry"  # stop with ReplayEndSignal and execute nothing (replay check)


@dataclass(frozen=True, slots=True)
class PlannedActivity:
    """An activity call to execute live at ``position``."""

    position: int
    activity: Activity[Any, Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    args_hash: str
    activity_id: str


@dataclass(frozen=True, slots=True)
class PlannedCompensation:
    """A compensation to execute live at ``position`` (``result`` is the compensated activity's)."""

    position: int
    call: CompensationCall
    result: Any
    activity_id: str


class LiveExecutor(abc.ABC):
    """Executes and records operations that have no recorded outcome yet (implemented by the engine)."""

    @abc.abstractmethod
    async def execute_activity(self, session: ReplaySession, step: PlannedActivity) -> HistoryEntry:
        """Run the activity with retries, record its final outcome, and return the stored entry."""

    @abc.abstractmethod
    async def execute_compensation(self, session: ReplaySession, step: PlannedCompensation) -> HistoryEntry:
        """Run a compensation with retries, record its outcome, and return the stored entry."""

    @abc.abstractmethod
    async def flush(self, entries: Sequence[HistoryEntry]) -> None:
        """Record buffered side-effect values (``ctx.now()``/``uuid()``/``random()``)."""

    @abc.abstractmethod
    def check_interrupts(self) -> None:
        """Raise a signal if the run must stop before a new live operation (cancel, deadline, lease)."""

    @abc.abstractmethod
    async def on_replayed_activity(self, instance_id: str, activity_id: str, name: str, result: Any) -> None:
        """Observe an activity outcome served from history (hooks with ``cache_hit=True``)."""

    @abc.abstractmethod
    async def take_message(
        self, session: ReplaySession, position: int, spec: WaitSpec
    ) -> HistoryEntry | None:
        """Take the oldest message for ``spec`` and record the wait's end; None when there is none yet."""

    @abc.abstractmethod
    async def end_wait(self, session: ReplaySession, position: int, spec: WaitSpec) -> HistoryEntry:
        """Record that the wait at ``position`` timed out (and stop listening for its keys)."""

    @abc.abstractmethod
    async def send_message(self, entry: HistoryEntry, message: OutgoingMessage) -> HistoryEntry:
        """Store ``message`` and record ``entry`` in one transaction; return the stored entry."""

    @abc.abstractmethod
    async def send_unjournaled(self, message: OutgoingMessage) -> None:
        """Store ``message`` now (not journaled)."""

    @abc.abstractmethod
    async def set_subscription(self, instance_id: str, channel: str, mode: SubscriptionMode | None) -> None:
        """Subscribe (``mode`` set) or unsubscribe (None); idempotent."""

    @abc.abstractmethod
    async def create_child(self, parent_id: str, child: ChildStart) -> str:
        """Create the child instance if it does not exist yet (idempotent) and return its id."""
