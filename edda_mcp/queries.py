"""Read-only instance queries for prompts and resources (the seed's ``server.storage``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from durable_core import EddaApp, HistoryEntry, InstanceRecord, InstanceStatus


class InstanceQueries:
    """Reads instances through the engine's public query API (never raw tables)."""

    def __init__(self, app: Callable[[], EddaApp]) -> None:
        self._app = app

    async def get_instance(self, instance_id: str) -> InstanceRecord:
        """The stored instance (raises ``InstanceNotFoundError``)."""
        return await self._app().get_instance(instance_id)

    async def get_history(self, instance_id: str) -> list[HistoryEntry]:
        """The instance's recorded steps in order (raises ``InstanceNotFoundError``)."""
        return await self._app().get_history(instance_id)

    async def list_instances(
        self, *, status: InstanceStatus | None = None, workflow_name: str | None = None, limit: int = 100
    ) -> list[InstanceRecord]:
        """Newest instances matching the filters."""
        return await self._app().list_instances(status=status, workflow_name=workflow_name, limit=limit)


def history_json(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    """A JSON-friendly view of history entries (results are summarised, not decoded)."""
    return [
        {
            "position": e.position,
            "kind": e.kind.value,
            "name": e.name,
            "outcome": e.outcome.value,
            "result": e.result.json_value if e.result.blob is None else f"<{len(e.result.blob)} bytes>",
            "error": None if e.error is None else {"type": e.error.type_name, "message": e.error.message},
            "recorded_at": e.recorded_at.isoformat() if e.recorded_at else None,
        }
        for e in entries
    ]
