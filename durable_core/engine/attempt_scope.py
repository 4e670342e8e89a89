"""The scope of one activity attempt: its id and attempt number, its user transaction and output streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable_core.authoring.runtime import ActivityScope
from durable_core.engine.streams import AttemptStreams
from durable_core.errors import ApiMisuseError
from durable_core.storage.base import Storage, UserTransaction
from durable_core.types import OutboxEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from durable_core.authoring.streams import OutputStream


class AttemptScope(ActivityScope):
    """What an activity attempt (or a reconcile function) reaches through ``ctx``: its transaction, streams."""

    def __init__(
        self,
        activity_id: str,
        attempt: int,
        tx: UserTransaction,
        storage: Storage,
        position: int,
        streams: AttemptStreams | None = None,
    ) -> None:
        self.activity_id = activity_id
        self.attempt = attempt
        self.position = position
        self.tx = tx
        self.storage = storage
        self.streams = streams

    def stream(self, name: str) -> OutputStream:
        """The attempt's output stream ``name`` (not available to reconcile functions)."""
        if self.streams is None:
            raise ApiMisuseError(
                "output streams are written by activity attempts, not by reconcile functions"
            )
        return self.streams.stream(name)

    @property
    def session(self) -> AsyncSession:
        """The SQLAlchemy session of the attempt's user transaction."""
        return self.tx.session

    async def add_outbox_event(self, event: OutboxEvent) -> None:
        """Add an outbox event in the attempt's transaction (sent once the step is recorded)."""
        await self.storage.outbox().add_in(self.tx, event)
