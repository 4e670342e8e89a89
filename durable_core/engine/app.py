"""``EddaApp``: owns storage, clock, catalog and dispatcher; starts, queries, cancels and resumes instances."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any

from durable_core.authoring.catalog import DEFAULT_CATALOG, Catalog
from durable_core.authoring.runtime import WaitSpec
from durable_core.authoring.workflow import Workflow
from durable_core.clock import Clock, SystemClock
from durable_core.codec import PayloadCodec
from durable_core.engine.dispatcher import Dispatcher
from durable_core.engine.handle import WorkflowHandle
from durable_core.engine.outbox import OutboxRelayer
from durable_core.engine.outcomes import result_or_raise
from durable_core.engine.retention import RetentionLoop, RetentionPolicy
from durable_core.engine.sending import Sender
from durable_core.engine.services import EngineServices
from durable_core.engine.validation import existing_instance_id, validate_instance_id, validate_options
from durable_core.engine.waiters import ResultWaiters
from durable_core.engine.workers import WorkerId, dead_local_owners
from durable_core.errors import (
    ConfigurationError,
    EddaError,
    InstanceConflictError,
    InstanceNotFoundError,
)
from durable_core.hooks import HookCaller
from durable_core.ingress import DEFAULT_MAX_BODY_BYTES, Authorizer, CloudEventsASGI
from durable_core.replay.checker import ReplayReport, replay_instance
from durable_core.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from durable_core.serialization import Serializer, args_hash
from durable_core.storage import make_storage
from durable_core.storage.base import Storage
from durable_core.storage.messaging import LocalClaim
from durable_core.types import (
    FINISHED_STATUSES,
    CancelOutcome,
    ClaimedInstance,
    HistoryEntry,
    InstanceProgress,
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
    JsonScalar,
    Lease,
    NewInstance,
    OutboxRecord,
    OutboxStatus,
    WaitInfo,
)
from durable_core.validation import MAX_ID_LENGTH, MAX_REASON_LENGTH, check_text

logger = logging.getLogger("durable_core")


class EddaApp:
    """A durable-execution engine inside your process.

    Args:
        db_url: ``sqlite:///path.db`` (embedded default), ``postgresql://...`` or ``mysql://...``.
        service_name: recorded with instances; shows where they were started.
        workflows: serve only these workflows (default: every ``@workflow`` defined in the process).
        hooks: an object implementing any subset of :class:`~durable_core.hooks.WorkflowHooks`.
        default_retry_policy: retry policy for activities that do not set one.
        payload_codec: encrypts/compresses stored payloads.
        clock: time source (inject ``FakeClock`` in tests).
        lease_ttl: seconds a worker's claim on an instance lasts without renewal.
        poll_interval: seconds between fallback polls for work started elsewhere or abandoned.
        max_concurrent_runs: instances this process runs at once.
        shutdown_timeout: seconds ``shutdown()`` lets running instances finish before releasing them.
        auto_migrate: apply schema migrations at start-up (under a database lock).
        pool_size / max_overflow: connection pool sizing (PostgreSQL/MySQL).
        run_workers: False makes a client-only app that starts and queries but never runs instances.
        outbox_target_url: when set, a relayer delivers ``send_event_transactional`` events to this URL
            (HTTP POST, CloudEvents) while the app runs.
        outbox_mode: ``"binary"`` (ce-* headers) or ``"structured"`` (``application/cloudevents+json``).
        outbox_poll_interval: seconds between outbox scans when it is empty.
        retention: purge finished instances and delivered outbox rows periodically (see RetentionPolicy).
        max_event_bytes: largest CloudEvent body the HTTP ingress accepts (413 above it).
        authorize: async hook ``(RequestInfo) -> bool`` run before the HTTP ingress accepts an event or
            a cancel request (False: 401 without an ``Authorization`` header, else 403).
        outbox_retry_policy: backoff and ``max_attempts`` of undelivered events.
    """

    def __init__(
        self,
        db_url: str = "sqlite:///edda.db",
        service_name: str = "edda",
        *,
        workflows: Iterable[Workflow[Any, Any]] | None = None,
        hooks: object | None = None,
        default_retry_policy: RetryPolicy | None = None,
        payload_codec: PayloadCodec | None = None,
        clock: Clock | None = None,
        lease_ttl: float = 30.0,
        poll_interval: float = 1.0,
        max_concurrent_runs: int = 200,
        shutdown_timeout: float = 10.0,
        auto_migrate: bool = True,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        run_workers: bool = True,
        outbox_target_url: str | None = None,
        outbox_mode: str = "binary",
        outbox_poll_interval: float = 1.0,
        outbox_retry_policy: RetryPolicy | None = None,
        retention: RetentionPolicy | None = None,
        max_event_bytes: int = DEFAULT_MAX_BODY_BYTES,
        authorize: Authorizer | None = None,
    ) -> None:
        validate_options(lease_ttl, poll_interval, max_concurrent_runs, shutdown_timeout)
        self.service_name = service_name
        self._catalog = Catalog(workflows) if workflows is not None else DEFAULT_CATALOG
        self._storage: Storage = make_storage(db_url, pool_size=pool_size, max_overflow=max_overflow)
        self._clock = clock or SystemClock()
        self._worker = WorkerId.new()
        self._services = EngineServices(
            storage=self._storage,
            clock=self._clock,
            serializer=Serializer(payload_codec),
            hooks=HookCaller(hooks),
            catalog=self._catalog,
            default_retry_policy=default_retry_policy or DEFAULT_RETRY_POLICY,
            worker_id=str(self._worker),
            lease_ttl=timedelta(seconds=lease_ttl),
            wake=self._wake_local,
            local_claim=self._local_claim,
            adopt=self._adopt_local,
            parked_wait=self._parked_wait,
            note_handoff=self._note_handoff,
        )
        self._sender = Sender(self._services)
        # The app is an ASGI app: POST any path = a CloudEvent, POST /cancel/{id}; lifespan starts it.
        self._ingress = CloudEventsASGI(
            self, max_body_bytes=max_event_bytes, authorize=authorize, lifespan=self
        )
        self._auto_migrate = auto_migrate
        self._run_workers = run_workers
        self._shutdown_timeout = shutdown_timeout
        self._waiters = ResultWaiters()
        self._dispatcher = Dispatcher(
            self._services,
            max_concurrent=max_concurrent_runs,
            poll_interval=poll_interval,
            on_run_finished=self._run_finished,
        )
        self._initialized = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retention = (
            RetentionLoop(retention, self._clock, [self.purge, self.purge_outbox]) if retention else None
        )
        self._outbox: OutboxRelayer | None = None
        if outbox_target_url is not None:
            self._outbox = OutboxRelayer(
                self._storage,
                self._clock,
                outbox_target_url,
                mode=outbox_mode,
                poll_interval=outbox_poll_interval,
                retry_policy=outbox_retry_policy,
                relayer_id=f"{self._worker}:outbox",
            )

    # -- lifecycle ---------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Connect, migrate, take over leases of dead local workers, and start dispatching."""
        if self._initialized:
            return
        await self._storage.initialize(auto_migrate=self._auto_migrate)
        self._loop = asyncio.get_running_loop()
        for wf in self._catalog:
            wf._bind_app(self)
        if self._run_workers:
            dead = dead_local_owners(await self._storage.lease_owners(), self._worker)
            if dead:
                count = await self._storage.expire_leases_of(dead, self._clock.now())
                logger.info("took over %d lease(s) of %d dead local worker(s)", count, len(dead))
            self._dispatcher.start()
        if self._outbox is not None:
            self._outbox.start()
        if self._retention is not None:
            self._retention.start()
        self._initialized = True

    async def shutdown(self) -> None:
        """Stop dispatching, drain or release running instances, close connections. Idempotent."""
        if not self._initialized:
            return
        self._initialized = False
        if self._retention is not None:
            await self._retention.stop()
        if self._outbox is not None:
            await self._outbox.stop()
        if self._run_workers:
            await self._dispatcher.stop(self._shutdown_timeout)
        for wf in self._catalog:
            wf._unbind_app(self)
        self._waiters.fail_all(EddaError("the app was shut down"))
        await self._storage.close()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """ASGI entry point: CloudEvents over HTTP (see docs/events-http.md); mountable under Starlette.

        Under an ASGI server's lifespan the app is initialized at start-up and shut down at exit;
        otherwise (e.g. mounted without lifespan, or through WSGI) on the first request.
        """
        await self._ingress(scope, receive, send)

    async def __aenter__(self) -> EddaApp:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    @property
    def storage(self) -> Storage:
        """The storage backend (prefer the query methods of this class)."""
        return self._storage

    @property
    def clock(self) -> Clock:
        """The app's clock."""
        return self._clock

    @property
    def worker_id(self) -> str:
        """This app's lease-owner id (``host:pid:token``)."""
        return self._services.worker_id

    def workflow_named(self, name: str) -> Workflow[Any, Any]:
        """The workflow definition this app serves under ``name`` (``WorkflowNotFoundError`` if none)."""
        return self._catalog.get(name)

    def _wake_local(self, instance_ids: Iterable[str]) -> None:
        """A local delivery made these instances runnable: run them here at once (if we run workers)."""
        if self._run_workers and self._initialized:
            for instance_id in instance_ids:
                self._dispatcher.hint(instance_id)

    def _local_claim(self) -> LocalClaim | None:
        if self._run_workers and self._initialized and self._dispatcher.has_capacity():
            return LocalClaim(self.worker_id, self._services.lease_ttl)
        return None

    def _adopt_local(self, claimed: ClaimedInstance) -> None:
        self._dispatcher.adopt(claimed)

    def _parked_wait(self, instance_id: str) -> tuple[int, int, WaitSpec] | None:
        parked = self._dispatcher.parked_here(instance_id)
        if parked is None or parked.wait is None:
            return None
        return parked.epoch, parked.wait[0], parked.wait[1]

    def _note_handoff(self, instance_id: str, entry: HistoryEntry) -> None:
        self._dispatcher.note_handoff(instance_id, entry)

    # -- events and messages -----------------------------------------------------------------------
    async def send_event(
        self,
        event_type: str,
        source: str,
        data: Any = None,
        *,
        instance_id: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
        extensions: Mapping[str, JsonScalar] | None = None,
        data_content_type: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """Send an event; it is committed when this returns (see ``wait_event`` for delivery semantics).

        Args:
            event_type: CloudEvents ``type``.
            source: CloudEvents ``source``.
            data: JSON data, bytes, or a Pydantic model (stored as its JSON).
            instance_id: deliver into this instance's mailbox (kept until a ``wait_event`` takes it);
                without it, the event reaches every instance waiting for ``event_type`` right now.
            subject: CloudEvents ``subject``.
            event_id: CloudEvents ``id`` (a UUID when omitted).
            extensions: CloudEvents extension attributes.
            data_content_type: CloudEvents ``datacontenttype``.
            time: CloudEvents ``time`` (when it happened; default: now on the app's clock).

        Returns:
            The event id.

        Raises:
            InstanceNotFoundError: ``instance_id`` names no instance (nothing is stored).
            ValueError / TypeError: invalid attributes or data (nothing is stored).
        """
        self._require_initialized()
        return await self._sender.send_event(
            event_type,
            source,
            data,
            instance_id=instance_id,
            subject=subject,
            event_id=event_id,
            extensions=extensions,
            data_content_type=data_content_type,
            time=time,
        )

    async def publish(self, channel: str, data: Any = None, *, message_id: str | None = None) -> str:
        """Publish on a channel from outside a workflow (competing: one subscriber; broadcast: all).

        Returns:
            The message id.
        """
        self._require_initialized()
        return await self._sender.publish(channel, data, message_id=message_id)

    async def send_to(
        self, instance_id: str, channel: str, data: Any = None, *, message_id: str | None = None
    ) -> str:
        """Send a message on ``channel`` directly to one instance (kept in its mailbox until received).

        Raises:
            InstanceNotFoundError: no such instance (nothing is stored).
        """
        self._require_initialized()
        return await self._sender.send_to(instance_id, channel, data, message_id=message_id)

    async def get_wait(self, instance_id: str) -> WaitInfo | None:
        """What a WAITING instance waits for (event types, channels, children, wake-up time); else None.

        Raises:
            InstanceNotFoundError: no such instance.
        """
        self._require_initialized()
        return await self._storage.messaging().get_wait(existing_instance_id(instance_id))

    # -- starting ------------------------------------------------------------------------------
    async def start(
        self,
        workflow: Workflow[Any, Any] | str,
        arguments: Mapping[str, Any] | None = None,
        *,
        instance_id: str | None = None,
    ) -> str:
        """Validate the arguments, durably create an instance, and return its id.

        Args:
            workflow: a workflow definition or its registered name.
            arguments: keyword arguments of the workflow (validated against its type hints).
            instance_id: optional caller-chosen id that doubles as an idempotency key.

        Raises:
            WorkflowNotFoundError / InputValidationError: nothing was stored.
            InstanceConflictError: the id exists with another workflow or another input.
        """
        self._require_initialized()
        wf = self._resolve(workflow)
        encoded = wf.encode_arguments((), dict(arguments or {}))
        return await self._create(wf, encoded, instance_id)

    async def _create(self, wf: Workflow[Any, Any], encoded: dict[str, Any], instance_id: str | None) -> str:
        iid = validate_instance_id(instance_id) if instance_id is not None else self._new_id()
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
        )
        adopt = self._run_workers and self._dispatcher.has_capacity()
        if adopt:
            ttl = self._services.lease_ttl
            new = dataclasses.replace(new, lease_owner=self.worker_id, lease_expires_at=now + ttl)
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
            lease = Lease(iid, self.worker_id, record.lease_epoch, record.lease_expires_at or now)
            self._dispatcher.adopt(ClaimedInstance(lease, record))
        elif self._run_workers:
            self._dispatcher.hint(iid)
        else:  # a client-only app: tell the workers (PostgreSQL NOTIFY; elsewhere their poll finds it)
            await self._storage.messaging().announce((iid,))
        return iid

    def _new_id(self) -> str:
        return uuid.uuid4().hex

    def _resolve(self, workflow: Workflow[Any, Any] | str) -> Workflow[Any, Any]:
        if isinstance(workflow, str):
            return self._catalog.get(workflow)
        if workflow.name not in self._catalog:
            raise ConfigurationError(f"workflow {workflow.name!r} is not served by this app")
        return workflow

    # -- results -------------------------------------------------------------------------------
    def handle(self, instance_id: str) -> WorkflowHandle:
        """A handle to an existing instance."""
        return WorkflowHandle(self, instance_id)

    async def wait_result(self, instance_id: str, timeout: float | None = None) -> Any:
        """Wait for an instance to finish; return its typed result or raise why it did not complete."""
        self._require_initialized()
        existing_instance_id(instance_id)
        dispatcher = self._dispatcher if self._run_workers else None
        record = await self._waiters.wait_finished(
            self._storage,
            instance_id,
            timeout,
            running_here=(lambda: dispatcher.owns(instance_id)) if dispatcher is not None else lambda: False,
        )
        return self._result_of(record)

    def _result_of(self, record: InstanceRecord) -> Any:
        wf = self._catalog.get(record.workflow_name) if record.workflow_name in self._catalog else None
        return result_or_raise(record, wf, self._services.serializer)

    def _run_finished(self, instance_id: str, record: InstanceRecord | None) -> None:
        self._waiters.notify(instance_id, record)

    # -- queries -------------------------------------------------------------------------------
    async def get_instance(self, instance_id: str) -> InstanceRecord:
        """The stored instance (raises ``InstanceNotFoundError``)."""
        record = await self._storage.get_instance(existing_instance_id(instance_id))
        if record is None:
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        return record

    async def get_history(self, instance_id: str) -> list[HistoryEntry]:
        """History of an instance in position order (raises ``InstanceNotFoundError``)."""
        await self.get_instance(instance_id)
        return await self._storage.load_history(instance_id)

    async def get_progress(self, instance_id: str) -> InstanceProgress:
        """Steps recorded so far and the last step's name."""
        return await self._storage.get_progress(existing_instance_id(instance_id))

    async def list_instances(
        self,
        *,
        status: InstanceStatus | Iterable[InstanceStatus] | None = None,
        workflow_name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        input_equals: Mapping[str, JsonScalar] | None = None,
        limit: int = 100,
        before: tuple[datetime, str] | None = None,
    ) -> list[InstanceRecord]:
        """Instances matching every given filter, newest first (keyset-paginated with ``before``)."""
        statuses = None
        if status is not None:
            statuses = frozenset([status] if isinstance(status, InstanceStatus) else status)
        query = InstanceQuery(
            statuses=statuses,
            workflow_name=workflow_name,
            created_after=created_after,
            created_before=created_before,
            input_equals=tuple((input_equals or {}).items()),
            limit=limit,
            before=before,
        )
        return await self._storage.list_instances(query)

    # -- control -------------------------------------------------------------------------------
    async def cancel(self, instance_id: str, reason: str = "", cancelled_by: str = "api") -> CancelOutcome:
        """Request cancellation; the instance runs its compensations and ends CANCELLED.

        Raises:
            InstanceNotFoundError: unknown id.
        """
        existing_instance_id(instance_id)
        if reason:
            check_text("reason", reason, limit=MAX_REASON_LENGTH)
        check_text("cancelled_by", cancelled_by, limit=MAX_ID_LENGTH)
        outcome = await self._storage.request_cancel(instance_id, reason, cancelled_by, self._clock.now())
        if outcome is CancelOutcome.NOT_FOUND:
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        if outcome is CancelOutcome.REQUESTED and not (
            self._run_workers and self._dispatcher.request_cancel(instance_id)
        ):
            if self._run_workers:
                self._dispatcher.hint(instance_id)
            await self._storage.messaging().announce((instance_id,))  # it may run in another process
        return outcome

    async def resume(self, instance_id: str) -> bool:
        """Resume a BLOCKED instance after its code was fixed; False if it was not blocked."""
        resumed = await self._storage.resume_blocked(existing_instance_id(instance_id), self._clock.now())
        if resumed:
            if self._run_workers:
                self._dispatcher.hint(instance_id)
            await self._storage.messaging().announce((instance_id,))
        return resumed

    async def purge(self, older_than: timedelta, limit: int = 1000) -> int:
        """Delete finished instances (with their history) that finished more than ``older_than`` ago."""
        return await self._storage.purge_finished(self._clock.now() - older_than, limit)

    def _require_initialized(self) -> None:
        if not self._initialized:
            raise EddaError(
                "EddaApp is not initialized; call `await app.initialize()` or use `async with app:`"
            )

    # -- replay check --------------------------------------------------------------------------
    async def replay_check(
        self, *, workflow_name: str | None = None, include_finished: bool = True, limit: int = 1000
    ) -> list[ReplayReport]:
        """Replay stored histories against the current code; nothing is executed or written.

        Args:
            workflow_name: only instances of this workflow (default: every workflow this app serves).
            include_finished: also check completed/failed/cancelled instances.
            limit: check at most this many instances (newest first).
        """
        statuses = None if include_finished else frozenset(set(InstanceStatus) - FINISHED_STATUSES)
        reports: list[ReplayReport] = []
        before: tuple[datetime, str] | None = None
        while len(reports) < limit:
            page = await self._storage.list_instances(
                InstanceQuery(
                    statuses=statuses,
                    workflow_name=workflow_name,
                    limit=min(200, limit - len(reports)),
                    before=before,
                )
            )
            if not page:
                break
            for record in page:
                if record.workflow_name not in self._catalog:
                    continue
                reports.append(
                    await replay_instance(
                        self._catalog.get(record.workflow_name),
                        instance_id=record.instance_id,
                        status=record.status,
                        stored_input=self._services.serializer.decode(record.input),
                        history=await self._storage.load_history(record.instance_id),
                        serializer=self._services.serializer,
                    )
                )
            before = (page[-1].created_at, page[-1].instance_id)
        return reports

    # -- transactional outbox ------------------------------------------------------------------
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
