"""The transactional outbox part of :class:`~durable_core.engine.app.EddaApp`'s API (a mixin).

Kept apart so the app module stays within its size budget; the methods read only the storage, the
clock and the relayer the app was built with.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from durable_core.clock import Clock
from durable_core.engine.outbox import OutboxRelayer
from durable_core.storage.base import Storage
from durable_core.types import OutboxRecord, OutboxStatus

__all__ = ["OutboxAPI"]


class OutboxAPI:
    """Listing and purging outbox rows, and the app's relayer."""

    _storage: Storage
    _clock: Clock
    _outbox: OutboxRelayer | None

    @property
    def outbox_relayer(self) -> OutboxRelayer | None:
        """The relayer delivering outbox events (None without ``outbox_target_url``)."""
        return self._outbox

    async def list_outbox(
        self,
        status: OutboxStatus | None = None,
        *,
        limit: int = 100,
        after: tuple[datetime, str] | None = None,
    ) -> list[OutboxRecord]:
        """Outbox rows (in ``status`` when given), oldest first; page on with ``after=(created_at, id)``."""
        return await self._storage.outbox().list_rows(status, limit, after)

    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        """Outbox rows not delivered yet (oldest first, at most ``limit``)."""
        return await self.list_outbox(OutboxStatus.PENDING, limit=limit)

    async def purge_outbox(self, older_than: timedelta, limit: int = 1000) -> int:
        """Delete delivered (SENT) outbox rows created more than ``older_than`` ago; rejected/failed stay."""
        return await self._storage.outbox().purge_sent(self._clock.now() - older_than, limit)
