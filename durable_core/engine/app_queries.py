"""The operator part of :class:`~durable_core.engine.app.EddaApp`'s API (a mixin).

Read models for consoles and CLIs, the operator action journal, and change listeners for live views.

Kept apart so the app module stays within its size budget; the methods read only the storage and the
clock the app was built with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from durable_core.authoring.catalog import Catalog
from durable_core.authoring.workflow import Workflow
from durable_core.clock import Clock
from durable_core.engine.flow import FlowControl
from durable_core.engine.services import EngineServices
from durable_core.engine.validation import existing_instance_id
from durable_core.engine.waiters import ResultWaiters
from durable_core.errors import InputValidationError
from durable_core.operator_types import (
    ArchivedRun,
    InstanceCounts,
    OperatorAction,
    QueueBacklog,
    RateLimitState,
    ThroughputPoint,
)
from durable_core.storage.base import Storage
from durable_core.types import (
    AttemptState,
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
    JsonScalar,
    JsonValue,
    OutboxRecord,
)
from durable_core.validation import MAX_ID_LENGTH, MAX_REASON_LENGTH, check_text

__all__ = ["ChangeListener", "OperatorAPI", "instance_query"]

logger = logging.getLogger("durable_core")

#: Called with the id of an instance whose run in this process just ended or parked.
ChangeListener = Callable[[str], None]


def instance_query(
    status: InstanceStatus | Iterable[InstanceStatus] | None,
    workflow_name: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    input_equals: Mapping[str, JsonScalar] | None,
    limit: int,
    before: tuple[datetime, str] | None,
    version: str | None = None,
) -> InstanceQuery:
    """The :class:`InstanceQuery` of ``list_instances``' keyword filters."""
    statuses = None
    if status is not None:
        statuses = frozenset([status] if isinstance(status, InstanceStatus) else status)
    return InstanceQuery(
        statuses=statuses,
        workflow_name=workflow_name,
        created_after=created_after,
        created_before=created_before,
        input_equals=tuple((input_equals or {}).items()),
        limit=limit,
        before=before,
        app_version=version,
    )


class OperatorAPI:
    """Look-ups for operators, the action journal, and local change notifications."""

    _storage: Storage
    _clock: Clock
    _change_listeners: list[ChangeListener]
    _catalog: Catalog
    _waiters: ResultWaiters
    _services: EngineServices
    _flow: FlowControl

    def served_workflows(self) -> list[Workflow[Any, Any]]:
        """The workflow definitions this app serves, by name."""
        return sorted(self._catalog, key=lambda wf: wf.name)

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(instance_id)`` whenever a run of an instance in this process ends or parks.

        Other processes' changes are not reported here (poll, or listen to the database's wake
        notifications); the listener runs in the app's event loop and must not block.
        """
        self._listeners().append(listener)

    def remove_change_listener(self, listener: ChangeListener) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        listeners = self._listeners()
        if listener in listeners:
            listeners.remove(listener)

    def _listeners(self) -> list[ChangeListener]:
        try:
            return self._change_listeners
        except AttributeError:
            self._change_listeners = []
            return self._change_listeners

    def _run_finished(self, instance_id: str, record: InstanceRecord | None) -> None:
        """A run in this process ended or parked: wake result waiters, stream followers, change listeners."""
        self._waiters.notify(instance_id, record)
        self._services.streams.notify((instance_id,))  # stream followers stop when the run has ended
        self._changed(instance_id)

    def _changed(self, instance_id: str) -> None:
        for listener in list(self._listeners()):
            try:
                listener(instance_id)
            except Exception:  # a broken listener must not break the run that finished
                logger.exception("change listener %r failed", listener)

    async def search_instances(
        self,
        *,
        status: InstanceStatus | Iterable[InstanceStatus] | None = None,
        workflow_name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        input_equals: Mapping[str, JsonScalar] | None = None,
        id_prefix: str | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
        queue: str | None = None,
        queue_key: str | None = None,
    ) -> list[InstanceRecord]:
        """Like ``list_instances``, plus ``id_prefix``, ``queue`` and ``queue_key`` filters (newest first).

        ``id_prefix`` keeps ids that start with it; ``queue`` / ``queue_key`` keep runs placed in that
        queue (with that key).

        Raises:
            InputValidationError: ``queue_key`` without ``queue``.
        """
        query = instance_query(
            status, workflow_name, created_after, created_before, input_equals, limit, before
        )
        placed = (queue, queue_key) if queue is not None else None
        if placed is None and queue_key is not None:
            raise InputValidationError("queue_key needs queue")
        return await self._storage.operator_queries().search_instances(query, id_prefix, placed)

    async def instance_totals(self) -> InstanceCounts:
        """How many instances are in each status and of each workflow (index scans: cache the result)."""
        return await self._storage.operator_queries().count_instances()

    async def queue_backlog(self, queue: str, key_limit: int = 20) -> QueueBacklog | None:
        """A stored queue's backlog in detail: its oldest waiting run and its ``key_limit`` largest keys.

        Bounded reads of the queue's unfinished rows on the queue index (``queue_stats`` gives the totals).

        Returns:
            None when no queue of that name is stored.

        Raises:
            InputValidationError: ``key_limit`` is not an int in 1..1000.
        """
        if type(key_limit) is not int or not 1 <= key_limit <= 1000:
            raise InputValidationError(f"key_limit must be an int in 1..1000, got {key_limit!r}")
        now = self._clock.now()
        row = await self._storage.operator_queries().queue_backlog(queue, now, key_limit)
        if row is None:
            return None
        free_at = row.rate_limit.grant(row.rate_state, now, 1).retry_at if row.rate_limit else None
        return QueueBacklog(queue, row.priority, row.oldest_queued_at, row.key_count, row.keys, free_at, now)

    async def rate_limit_states(self) -> list[RateLimitState]:
        """Every named rate limit stored in the database with its setting (if configured here) and state."""
        now = self._clock.now()
        states = []
        for name, state in await self._storage.operator_queries().rate_limit_states():
            limit = self._flow.rate_limit(name)
            if limit is not None:
                free_at = limit.grant(state, now, 1).retry_at
            else:  # the setting is not known here: the theoretical arrival time bounds it from above
                free_at = state.tat if state.tat is not None and state.tat > now else None
            states.append(RateLimitState(name, limit, free_at))
        return states

    async def throughput(self, minutes: int = 60) -> list[ThroughputPoint]:
        """Instances started and finished per minute over the last ``minutes`` minutes, oldest first."""
        if type(minutes) is not int or not 1 <= minutes <= 24 * 60:
            raise ValueError(f"minutes must be an int between 1 and 1440, got {minutes!r}")
        now = self._clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
        return await self._storage.operator_queries().throughput(now - timedelta(minutes=minutes), minutes)

    async def instances_awaiting_input(self, limit: int = 20) -> list[InstanceRecord]:
        """WAITING instances that wait for typed human input (``wait_event(model=...)``), newest first."""
        return await self._storage.operator_queries().awaiting_input(limit)

    async def list_children(self, instance_id: str, limit: int = 100) -> list[InstanceRecord]:
        """Child workflows started by ``instance_id``, oldest first."""
        return await self._storage.operator_queries().children(existing_instance_id(instance_id), limit)

    async def list_outbox_of(self, instance_id: str, limit: int = 100) -> list[OutboxRecord]:
        """Outbox rows the activities of ``instance_id`` wrote, oldest first."""
        return await self._storage.operator_queries().outbox_of(existing_instance_id(instance_id), limit)

    async def get_archived_runs(self, instance_id: str) -> list[ArchivedRun]:
        """The kept earlier runs of an instance that recurred (``ctx.recur``), oldest first."""
        return await self._storage.operator_queries().archived_runs(existing_instance_id(instance_id))

    async def get_attempts(self, instance_id: str) -> list[AttemptState]:
        """Durable attempt counters of the steps of ``instance_id`` that are retrying now."""
        attempts = await self._storage.load_attempts(existing_instance_id(instance_id))
        return [attempts[position] for position in sorted(attempts)]

    async def record_operator_action(
        self, instance_id: str, action: str, *, actor: str, reason: str, detail: JsonValue = None
    ) -> OperatorAction:
        """Journal that ``actor`` did ``action`` to an instance because of ``reason``.

        Raises:
            InputValidationError: empty or too long ``action``/``actor``, or a too long ``reason``.
        """
        check_text("action", action, limit=64)
        check_text("actor", actor, limit=MAX_ID_LENGTH)
        if reason:
            check_text("reason", reason, limit=MAX_REASON_LENGTH)
        record = OperatorAction(
            existing_instance_id(instance_id), action, actor, reason, self._clock.now(), detail
        )
        await self._storage.operator_queries().record_action(record)
        return record

    async def list_operator_actions(
        self, instance_id: str, limit: int = 100, *, newest_first: bool = False
    ) -> list[OperatorAction]:
        """Journaled operator actions on ``instance_id``, oldest first (``newest_first``: the latest)."""
        key = existing_instance_id(instance_id)
        return await self._storage.operator_queries().actions_of(key, limit, newest_first)
