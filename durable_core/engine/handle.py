"""``WorkflowHandle``: status, result and cancellation of one instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from durable_core.types import CancelOutcome, HistoryEntry, InstanceProgress, InstanceRecord, InstanceStatus

if TYPE_CHECKING:
    from durable_core.engine.app import EddaApp


class WorkflowHandle:
    """A reference to an instance by id, bound to an app."""

    def __init__(self, app: EddaApp, instance_id: str) -> None:
        self._app = app
        self.instance_id = instance_id

    async def status(self) -> InstanceStatus:
        """Current status (raises ``InstanceNotFoundError`` for unknown ids)."""
        return (await self._app.get_instance(self.instance_id)).status

    async def progress(self) -> InstanceProgress:
        """Steps completed, the last completed step and the current one (running activity or awaited thing).

        Raises:
            InstanceNotFoundError: no such instance.
        """
        return await self._app.get_progress(self.instance_id)

    async def describe(self) -> InstanceRecord:
        """The stored instance record."""
        return await self._app.get_instance(self.instance_id)

    async def history(self) -> list[HistoryEntry]:
        """The recorded history, in position order."""
        return await self._app.get_history(self.instance_id)

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the instance to finish and return its typed result.

        Raises:
            ResultTimeoutError: not finished within ``timeout`` seconds (the instance keeps running).
            WorkflowFailedError / WorkflowCancelledError / WorkflowBlockedError: it did not complete.
        """
        return await self._app.wait_result(self.instance_id, timeout=timeout)

    async def cancel(self, reason: str = "", cancelled_by: str = "api") -> CancelOutcome:
        """Request cancellation; compensations run before the instance becomes CANCELLED."""
        return await self._app.cancel(self.instance_id, reason=reason, cancelled_by=cancelled_by)

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.instance_id}>"
