"""Creating instances and flow control, for :class:`~durable_core.engine.app.EddaApp` (a mixin).

Kept apart so the app module stays within its size budget: the create path of ``start`` (queue
placement, debounced / singleton starts, local adoption) and queue statistics. See ``docs/queues.md``.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any

from durable_core.authoring.workflow import Workflow
from durable_core.clock import Clock
from durable_core.engine.dispatcher import Dispatcher
from durable_core.engine.flow import FlowControl
from durable_core.engine.services import EngineServices
from durable_core.engine.validation import validate_instance_id
from durable_core.errors import InstanceConflictError
from durable_core.flow import FlowOptions, QueueStats
from durable_core.serialization import args_hash
from durable_core.storage.base import Storage
from durable_core.types import ClaimedInstance, Lease, NewInstance

__all__ = ["FlowAPI"]


class FlowAPI:
    """Creating instances (queues, debounce, singleton) and queue statistics."""

    service_name: str
    _storage: Storage
    _clock: Clock
    _services: EngineServices
    _flow: FlowControl
    _dispatcher: Dispatcher
    _run_workers: bool

    async def queue_stats(self) -> list[QueueStats]:
        """Every queue stored in the database: settings, depth, executing runs, per-key backlog.

        Read by ``edda-mcp queues list`` and the console; any process on the database sees every queue.
        """
        return await self._flow.stats()

    async def queue_admissions(self, queue: str) -> list[datetime]:
        """When each run of ``queue`` was admitted (first claimed: its start), oldest first."""
        return await self._storage.flow().admissions(queue)

    async def _keyed_start(self, new: NewInstance, options: FlowOptions | None) -> str | None:
        """Store a debounced / singleton start; the id every caller gets (None: no key in ``options``)."""
        started = await self._flow.keyed_start(new, options)
        if started is None:
            return None
        if options is not None and options.debounce is not None:
            if self._run_workers:
                self._dispatcher.note_timer(new.now + options.debounce)  # it starts when the window ends
            else:
                await self._storage.messaging().announce((started.instance_id,))
            return started.instance_id
        runnable = [started.handed_to] if started.handed_to is not None else []
        if started.created and not started.queued:  # a QUEUED start runs once it is handed the key
            runnable.append(started.instance_id)
        if runnable and self._run_workers:
            for iid in runnable:
                self._dispatcher.hint(iid)
        elif runnable:
            await self._storage.messaging().announce(tuple(runnable))
        return started.instance_id

    async def _create(
        self,
        wf: Workflow[Any, Any],
        encoded: dict[str, Any],
        iid: str | None,
        options: FlowOptions | None = None,
    ) -> str:
        iid = validate_instance_id(iid) if iid is not None else self._new_id()
        now = self._clock.now()
        payload = self._services.serializer.encode(encoded, "input")  # validates before hashing
        new = NewInstance(
            instance_id=iid,
            workflow_name=wf.name,
            input=payload,
            input_hash=(digest := args_hash(encoded)),
            service_name=self.service_name,
            now=now,
            deadline_at=now + timedelta(seconds=wf.timeout) if wf.timeout else None,
            app_version=self._services.version(),
        )
        new = self._flow.place(new, wf.queue, options)
        if (keyed := await self._keyed_start(new, options)) is not None:
            return keyed
        adopt = self._run_workers and self._dispatcher.has_capacity() and new.queue is None
        if adopt:
            ttl = self._services.lease_ttl
            new = dataclasses.replace(new, lease_owner=self._services.worker_id, lease_expires_at=now + ttl)
        created = await self._storage.create_instance(new)
        if not created.created:
            existing = created.instance
            if existing.workflow_name != wf.name or existing.input_hash != digest:
                raise InstanceConflictError(
                    f"instance id {iid!r} already exists for workflow {existing.workflow_name!r} with "
                    f"{'different input' if existing.workflow_name == wf.name else 'another workflow'}; "
                    "use a new id or the same input"
                )
            return iid
        if adopt:
            record = created.instance
            lease = Lease(iid, self._services.worker_id, record.lease_epoch, record.lease_expires_at or now)
            self._dispatcher.adopt(ClaimedInstance(lease, record))
        elif self._run_workers:
            self._dispatcher.hint(iid)
        else:  # a client-only app: tell the workers (PostgreSQL NOTIFY; elsewhere their poll finds it)
            await self._storage.messaging().announce((iid,))
        return iid

    def _new_id(self) -> str:
        return uuid.uuid4().hex
