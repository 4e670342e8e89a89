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
from durable_core.authoring.workflow import Workflow
from durable_core.clock import Clock, SystemClock
from durable_core.codec import PayloadCodec
from durable_core.engine.app_control import RunControlAPI
from durable_core.engine.app_outbox import OutboxAPI
from durable_core.engine.at_most_once import answer_unknown
from durable_core.engine.dispatcher import Dispatcher
from durable_core.engine.handle import WorkflowHandle
from durable_core.engine.liveness import heartbeat_for
from durable_core.engine.local_worker import DispatcherWorker
from durable_core.engine.options import (
    UNSET,
    IngressOptions,
    OutboxOptions,
    Unset,
    WorkerOptions,
    ingress_options,
    outbox_options,
    worker_options,
)
from durable_core.engine.outbox import OutboxMode, relayer_for
from durable_core.engine.outcomes import result_or_raise
from durable_core.engine.progress import read_progress
from durable_core.engine.retention import RetentionLoop, RetentionPolicy
from durable_core.engine.sending import Sender
from durable_core.engine.services import EngineServices
from durable_core.engine.validation import existing_instance_id, validate_instance_id
from durable_core.engine.waiters import ResultWaiters
from durable_core.engine.workers import WorkerId, dead_local_owners
from durable_core.errors import (
    ConfigurationError,
    EddaError,
    InstanceConflictError,
    InstanceNotFoundError,
)
from durable_core.hooks import HookCaller
from durable_core.ingress import Authorizer, CloudEventsASGI
from durable_core.replay.checker import ReplayReport, replay_check
from durable_core.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from durable_core.serialization import Serializer, args_hash
from durable_core.storage import make_storage
from durable_core.storage.base import Storage
from durable_core.types import (
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
    OutcomeAnswer,
    OutgoingEvent,
    SqliteSynchronous,
    WaitInfo,
)
from durable_core.validation import MAX_ID_LENGTH, MAX_REASON_LENGTH, check_text

logger = logging.getLogger("durable_core")


class EddaApp(OutboxAPI, RunControlAPI):
    """A durable-execution engine inside your process.

    Args:
        db_url: ``sqlite:///path.db`` (embedded default), ``postgresql://...`` or ``mysql://...``.
        service_name: recorded with instances; shows where they were started.
        workflows: serve only these workflows (default: every ``@workflow`` defined in the process).
        hooks: an object implementing any subset of :class:`~durable_core.hooks.WorkflowHooks`.
        default_retry_policy: retry policy for activities that do not set one.
        payload_codec: encrypts/compresses stored payloads.
        clock: time source (inject ``FakeClock`` in tests).
        auto_migrate: apply schema migrations at start-up (under a database lock).
        pool_size / max_overflow: connection pool sizing (PostgreSQL/MySQL).
        sqlite_synchronous: for a SQLite file, ``"full"`` (default: every acknowledged start, event and
            step is on disk, so it survives a power loss) or ``"normal"`` (faster commits; survives a
            crash of the process, but the last commits before a power loss or OS crash can be lost).
            Same as ``?synchronous=full|normal`` in the URL; rejected for PostgreSQL and MySQL.
        retention: purge finished instances and delivered outbox rows periodically (see RetentionPolicy).
        worker: how this process runs instances (:class:`WorkerOptions`: lease TTL, poll interval,
            concurrency, shutdown timeout, ``run_workers=False`` for a client-only app).
        outbox: delivery of ``send_event_transactional`` events (:class:`OutboxOptions`: target URL,
            CloudEvents mode, poll interval, retry policy); no relayer without a target URL.
        ingress: the HTTP entry point (:class:`IngressOptions`: largest event body, ``authorize`` hook).
        lease_ttl / liveness_ttl / poll_interval / max_concurrent_runs / shutdown_timeout / run_workers:
            the fields of ``worker`` as keywords (defaults 30 s, 5 s, 1 s, 200, 10 s, True;
            ``liveness_ttl=None`` turns the worker heartbeat off).
        outbox_target_url / outbox_mode / outbox_poll_interval / outbox_retry_policy: the fields of
            ``outbox`` as keywords (``outbox_mode``: ``"binary"`` or ``"structured"``).
        max_event_bytes / authorize: the fields of ``ingress`` as keywords.

    Raises:
        ConfigurationError: an invalid option, or one given both in a group and as its keyword.
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
        auto_migrate: bool = True,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        sqlite_synchronous: SqliteSynchronous | str | None = None,
        retention: RetentionPolicy | None = None,
        worker: WorkerOptions | None = None,
        outbox: OutboxOptions | None = None,
        ingress: IngressOptions | None = None,
        lease_ttl: float | None = None,
        liveness_ttl: float | Unset | None = UNSET,
        poll_interval: float | None = None,
        max_concurrent_runs: int | None = None,
        shutdown_timeout: float | None = None,
        run_workers: bool | None = None,
        outbox_target_url: str | None = None,
        outbox_mode: OutboxMode | str | None = None,
        outbox_poll_interval: float | None = None,
        outbox_retry_policy: RetryPolicy | None = None,
        max_event_bytes: int | None = None,
        authorize: Authorizer | None = None,
    ) -> None:
        workers = worker_options(
            worker,
            lease_ttl=lease_ttl,
            poll_interval=poll_interval,
            max_concurrent_runs=max_concurrent_runs,
            shutdown_timeout=shutdown_timeout,
            run_workers=run_workers,
            liveness_ttl=liveness_ttl,
        )
        relaying = outbox_options(
            outbox,
            target_url=outbox_target_url,
            mode=outbox_mode,
            poll_interval=outbox_poll_interval,
            retry_policy=outbox_retry_policy,
        )
        entry = ingress_options(ingress, max_event_bytes=max_event_bytes, authorize=authorize)
        self.service_name = service_name
        self._catalog = Catalog(workflows) if workflows is not None else DEFAULT_CATALOG
        self._storage: Storage = make_storage(
            db_url, pool_size=pool_size, max_overflow=max_overflow, sqlite_synchronous=sqlite_synchronous
        )
        self._clock = clock or SystemClock()
        self._worker = WorkerId.new()
        self._local = DispatcherWorker(
            str(self._worker),
            timedelta(seconds=workers.lease_ttl),
            lambda: self._run_workers and self._initialized,
        )
        self._services = EngineServices(
            storage=self._storage,
            clock=self._clock,
            serializer=Serializer(payload_codec),
            hooks=HookCaller(hooks),
            catalog=self._catalog,
            default_retry_policy=default_retry_policy or DEFAULT_RETRY_POLICY,
            worker_id=str(self._worker),
            lease_ttl=timedelta(seconds=workers.lease_ttl),
            local=self._local,
        )
        self._sender = Sender(self._services)
        # The app is an ASGI app: POST any path = a CloudEvent, POST /cancel/{id}; lifespan starts it.
        self._ingress = CloudEventsASGI(
            self, max_body_bytes=entry.max_event_bytes, authorize=entry.authorize, lifespan=self
        )
        self._auto_migrate = auto_migrate
        self._run_workers = workers.run_workers
        self._shutdown_timeout = workers.shutdown_timeout
        self._waiters = ResultWaiters()
        self._dispatcher = self._make_dispatcher(workers)
        self._local.attach(self._dispatcher)
        self._initialized = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retention = (
            RetentionLoop(retention, self._clock, [self.purge, self.purge_outbox]) if retention else None
        )
        self._outbox = relayer_for(self._storage, self._clock, relaying, f"{self._worker}:outbox")

    def _make_dispatcher(self, workers: WorkerOptions) -> Dispatcher:
        """This process's dispatcher, which runs instances only while the liveness heartbeat allows."""
        self._heartbeat = heartbeat_for(
            self._storage if workers.run_workers else None,
            self.worker_id,
            workers.liveness_ttl,
            on_lapse=lambda: self._dispatcher.lapse(),
            on_revive=lambda: self._dispatcher.poll_soon(),
        )
        return Dispatcher(
            self._services,
            max_concurrent=workers.max_concurrent_runs,
            poll_interval=workers.poll_interval,
            on_run_finished=self._run_finished,
            alive=self._heartbeat.alive if self._heartbeat is not None else lambda: True,
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
            if self._heartbeat is not None:  # registered before anything is claimed
                await self._heartbeat.start()
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
        if self._heartbeat is not None:  # after the leases were released: declares this worker dead
            await self._heartbeat.stop()
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

    def add_workflow(self, wf: Workflow[Any, Any]) -> None:
        """Serve one more workflow from now on (its instances are run, started and resumed here).

        It joins this app's catalog: the ``workflows=`` list it was built with, or the process-wide
        catalog of ``@workflow`` definitions when it was built without one.

        Raises:
            ConfigurationError: another workflow of this app already has that name.
        """
        self._catalog.add(wf)
        if self._initialized:
            wf._bind_app(self)

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
        event = OutgoingEvent(
            event_type=event_type,
            source=source,
            data=data,
            instance_id=instance_id,
            subject=subject,
            event_id=event_id,
            extensions=extensions,
            data_content_type=data_content_type,
            time=time,
        )
        return await self._sender.send_event(event)

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
        """Steps completed (not counting now/uuid/random values), the last one, and the current step.

        Raises:
            InstanceNotFoundError: no such instance.
        """
        return await read_progress(
            self._storage, existing_instance_id(instance_id), self._dispatcher.running_steps(instance_id)
        )

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
            await self._wake(instance_id)
        return outcome

    async def resume(self, instance_id: str) -> bool:
        """Resume a BLOCKED instance after its code was fixed; False if it was not blocked."""
        resumed = await self._storage.resume_blocked(existing_instance_id(instance_id), self._clock.now())
        if resumed:
            await self._wake(instance_id)
        return resumed

    async def resolve_unknown(
        self, instance_id: str, *, happened: bool, result: Any = None, answered_by: str = "api"
    ) -> None:
        """Say if an ``outcome_unknown`` step happened (``result``: its result) or not (it runs again)."""
        answer = OutcomeAnswer(happened, result, answered_by)
        await answer_unknown(self._storage, self._clock.now(), existing_instance_id(instance_id), answer)
        await self._wake(instance_id)

    async def _wake(self, instance_id: str) -> None:
        """Let a runnable instance run here, or in the process that claims it first (another may)."""
        if self._run_workers:
            self._dispatcher.hint(instance_id)
        await self._storage.messaging().announce((instance_id,))

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
        return await replay_check(
            self._storage,
            self._catalog,
            self._services.serializer,
            self._clock.now,
            workflow_name=workflow_name,
            include_finished=include_finished,
            limit=limit,
        )
