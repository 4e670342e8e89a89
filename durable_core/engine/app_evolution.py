"""The code-evolution part of :class:`~durable_core.engine.app.EddaApp`'s API (a mixin).

Its code version, the replay check (of stored instances or exported golden histories) and history
export. Kept apart so the app module stays within its size budget.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from durable_core.authoring.catalog import Catalog
from durable_core.authoring.workflow import Workflow
from durable_core.clock import Clock
from durable_core.engine.history_export import export_history, import_history
from durable_core.engine.services import EngineServices
from durable_core.engine.versions import CodeVersion
from durable_core.errors import InputValidationError
from durable_core.replay.checker import ReplayReport, replay_check, replay_instance
from durable_core.storage.base import Storage
from durable_core.types import HistoryEntry, InstanceRecord, JsonValue

__all__ = ["EvolutionAPI", "HistorySpec"]

#: an exported history: a path to its JSON file, or the parsed JSON object
HistorySpec = str | os.PathLike[str] | Mapping[str, Any]


class EvolutionAPI:
    """Code version, replay check and history export of an app."""

    _storage: Storage
    _clock: Clock
    _catalog: Catalog
    _services: EngineServices
    _code_version: CodeVersion

    @property
    def version(self) -> str:
        """This app's code version: ``version=`` as given, else a hash of its workflows' code.

        It is recorded on every instance the app starts (``InstanceRecord.app_version``) and runs
        (``InstanceRecord.last_run_version``); see :mod:`durable_core.engine.versions` for what is hashed.
        """
        return self._code_version.get()

    @property
    def workflows(self) -> tuple[Workflow[Any, Any], ...]:
        """The workflows this app serves (its ``workflows=`` list, or the process-wide ``@workflow`` set)."""
        return tuple(self._catalog)

    async def replay_check(
        self,
        *,
        workflow_name: str | None = None,
        include_finished: bool = True,
        limit: int = 1000,
        histories: Iterable[HistorySpec] | None = None,
    ) -> list[ReplayReport]:
        """Replay histories against the current code; nothing is executed or written.

        Args:
            workflow_name: only instances of this workflow (default: every workflow this app serves).
            include_finished: also check completed/failed/cancelled instances.
            limit: check at most this many stored instances (newest first).
            histories: check these exported histories (``edda-mcp instances export``: paths to the JSON
                files or the parsed objects) instead of the database; no database rows are needed, and a
                history of a workflow this app does not serve is reported as failing.

        Raises:
            InputValidationError: an exported history cannot be read.
        """
        if histories is not None:
            return [await self._replay_exported(spec) for spec in histories]
        return await replay_check(
            self._storage,
            self._catalog,
            self._services.serializer,
            self._clock.now,
            workflow_name=workflow_name,
            include_finished=include_finished,
            limit=limit,
        )

    async def _replay_exported(self, spec: HistorySpec) -> ReplayReport:
        record, history = import_history(_load(spec))
        if record.workflow_name not in self._catalog:
            message = f"no workflow named {record.workflow_name!r} is served by this app"
            return ReplayReport(record.instance_id, record.workflow_name, False, message)
        serializer = self._services.serializer
        return await replay_instance(
            self._catalog.get(record.workflow_name),
            instance_id=record.instance_id,
            status=record.status,
            stored_input=serializer.decode(record.input),
            history=history,
            serializer=serializer,
            clock_now=self._clock.now,
            frontier=record.replay_frontier or 0,
        )

    async def export_history(self, instance_id: str) -> dict[str, JsonValue]:
        """The instance and its history in the ``edda-history`` export format (see ``history_export``).

        Raises:
            InstanceNotFoundError: no such instance.
        """
        record = await self.get_instance(instance_id)
        history: list[HistoryEntry] = await self._storage.load_history(instance_id)
        return export_history(record, history)

    async def get_instance(self, instance_id: str) -> InstanceRecord:
        """The stored instance (implemented by ``EddaApp``)."""
        raise NotImplementedError


def _load(spec: HistorySpec) -> Mapping[str, Any]:
    if isinstance(spec, Mapping):
        return spec
    path = Path(spec)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputValidationError(f"cannot read the exported history {str(path)!r}: {exc}") from None
    except ValueError as exc:
        raise InputValidationError(f"{str(path)!r} is not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise InputValidationError(f"{str(path)!r} is not an exported history (not a JSON object)")
    return data
