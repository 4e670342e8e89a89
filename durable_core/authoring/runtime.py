"""The abstract runtime that authoring objects talk to; the engine installs the implementation.

This keeps the authoring API (decorators, ``WorkflowContext``) free of storage and SQLAlchemy.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from durable_core.types import JsonValue, OutboxEvent, StepKind

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from durable_core.authoring.activity import Activity
    from durable_core.authoring.saga import CompensationCall


class WorkflowRuntime(abc.ABC):
    """What a running (or replaying) workflow instance offers to the code of its workflow."""

    instance_id: str
    workflow_name: str

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
    def side_effect(self, kind: StepKind, produce: Callable[[], JsonValue]) -> JsonValue:
        """Return the recorded value at the next position, or ``produce()`` it and record it."""

    @abc.abstractmethod
    async def wait_timer(self, position: int, due: datetime, name: str) -> None:
        """Return once the timer at ``position`` has fired (recorded); suspend the instance until ``due``."""

    @abc.abstractmethod
    def register_compensation(self, call: CompensationCall) -> None:
        """Remember a compensation to run (in reverse order) if the workflow fails or is cancelled."""


class ActivityScope(abc.ABC):
    """What an activity attempt (or compensation) sees through its context."""

    activity_id: str
    attempt: int

    @property
    @abc.abstractmethod
    def session(self) -> AsyncSession:
        """A session in the transaction that will also record this activity's history entry."""

    async def add_outbox_event(self, event: OutboxEvent) -> None:
        """Write ``event`` to the outbox in the transaction that will record this activity."""
        raise NotImplementedError("this runtime has no transactional outbox")
