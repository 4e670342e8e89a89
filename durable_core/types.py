"""Enums and frozen dataclasses that cross layers (storage <-> replay <-> engine <-> users).

Nothing here does I/O. Rows never travel as ``dict[str, Any]``: storage converts them to these types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Union

JsonScalar = Union[str, int, float, bool, None]  # noqa: UP007 - runtime alias, recursive below
JsonValue = Union[JsonScalar, list["JsonValue"], dict[str, "JsonValue"]]  # noqa: UP007


class InstanceStatus(enum.StrEnum):
    """Lifecycle state of a workflow instance."""

    PENDING = "pending"  # committed, never run yet
    RUNNING = "running"  # being run (or runnable again after a crash / release)
    WAITING = "waiting"  # suspended on a timer, event or message; holds no worker
    COMPENSATING = "compensating"  # running compensations after failure or cancel
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"  # replay hit non-determinism; resumable after a code fix
    # an at-most-once activity's attempt was interrupted and nobody knows if it happened: waits for an answer
    OUTCOME_UNKNOWN = "outcome_unknown"
    PAUSED = "paused"  # an operator paused it (``app.pause``): runs nothing until unpaused; holds no worker
    # started with singleton_key + on_conflict="queue" while the key was held: runs once it is handed the key
    QUEUED = "queued"

    @property
    def is_finished(self) -> bool:
        """True for states that never change again."""
        return self in _FINISHED


_FINISHED = frozenset({InstanceStatus.COMPLETED, InstanceStatus.FAILED, InstanceStatus.CANCELLED})
FINISHED_STATUSES: frozenset[InstanceStatus] = _FINISHED
ACTIVE_STATUSES: frozenset[InstanceStatus] = frozenset(
    {InstanceStatus.PENDING, InstanceStatus.RUNNING, InstanceStatus.COMPENSATING}
)


class Backend(enum.StrEnum):
    """The database family a storage URL names (``postgres://`` is POSTGRESQL, ``mariadb://`` is MYSQL)."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"


class StepKind(enum.StrEnum):
    """Kind of durable operation recorded at a history position."""

    ACTIVITY = "activity"
    COMPENSATION = "compensation"
    NOW = "now"
    UUID = "uuid"
    RANDOM = "random"
    TIMER = "timer"  # a durable timer that fired (recorded when it is due, never before)
    WAIT = "wait"  # an event/message wait that was satisfied (or timed out), recorded with what arrived
    SEND = "send"  # a journaled send_event / publish / send_to / subscribe / unsubscribe from a workflow
    CHILD = "child"  # a child workflow started from a workflow (records the child's instance id)
    PATCH = "patch"  # marker of ctx.patched(id) / ctx.deprecate_patch(id): the run took the new path

    @property
    def is_step(self) -> bool:
        """Whether entries of this kind count as steps (internal now/uuid/random values do not)."""
        return self not in _INTERNAL_KINDS


#: History kinds that record values the workflow asked for (``ctx.now()`` ...), not steps it took.
_INTERNAL_KINDS: Final = frozenset({StepKind.NOW, StepKind.UUID, StepKind.RANDOM, StepKind.PATCH})
#: The history kinds counted as steps by :class:`InstanceProgress`.
USER_STEP_KINDS: Final = tuple(kind for kind in StepKind if kind.is_step)


class StepOutcome(enum.StrEnum):
    """Whether a recorded step returned or raised."""

    OK = "ok"
    ERROR = "error"


class PayloadEncoding(enum.StrEnum):
    """How a :class:`Payload` is stored."""

    NONE = "none"  # no value (SQL NULL)
    JSON = "json"  # plain JSON in the JSON column
    BYTES = "bytes"  # raw bytes in the binary column
    CODEC_JSON = "codec-json"  # JSON text passed through the app's payload codec, in the binary column
    CODEC_BYTES = "codec-bytes"  # raw bytes passed through the payload codec, in the binary column


@dataclass(frozen=True, slots=True)
class Payload:
    """A stored value: JSON in ``json_value`` or bytes in ``blob``, as ``encoding`` says."""

    encoding: PayloadEncoding
    json_value: JsonValue = None
    blob: bytes | None = None


NO_PAYLOAD = Payload(PayloadEncoding.NONE)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A recorded exception: enough to re-raise the same type on replay.

    Attributes:
        type_name: ``module:QualName`` of the exception class.
        message: ``str(exc)``.
        args: the exception's args when they are JSON-serializable, else ``None``.
        traceback: formatted traceback text (for humans; never parsed).
        cause: the recorded ``__cause__``, if any.
    """

    type_name: str
    message: str
    args: JsonValue = None
    traceback: str = ""
    cause: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class RetryInfo:
    """Retry metadata recorded with an activity's final outcome."""

    total_attempts: int
    total_duration_ms: int
    exhausted: bool = False
    errors: tuple[ErrorInfo, ...] = ()
    #: the back-off before each retry made by the process that finished the step, in ms (attempts
    #: before a crash are counted in ``total_attempts`` but their delays are not known here)
    delays_ms: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded durable operation at ``position`` of an instance's history."""

    instance_id: str
    position: int
    kind: StepKind
    name: str
    args_hash: str
    outcome: StepOutcome
    result: Payload = NO_PAYLOAD
    error: ErrorInfo | None = None
    retry: RetryInfo | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """Proof that ``owner`` may run ``instance_id`` while the stored epoch equals ``epoch``."""

    instance_id: str
    owner: str
    epoch: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """A workflow instance as stored."""

    instance_id: str
    workflow_name: str
    status: InstanceStatus
    input: Payload
    input_hash: str
    created_at: datetime
    updated_at: datetime
    output: Payload = NO_PAYLOAD
    error: ErrorInfo | None = None
    finished_at: datetime | None = None
    deadline_at: datetime | None = None
    wake_at: datetime | None = None
    lease_owner: str | None = None
    lease_epoch: int = 0
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    blocked_reason: str | None = None
    service_name: str = ""
    crash_count: int = 0
    parent_instance_id: str | None = None
    app_version: str | None = None  # EddaApp(version=...) of the app that started it
    last_run_version: str | None = None  # the version of the worker that ran it last
    replay_frontier: int | None = None  # positions its code had taken when it last parked (ctx.patched)
    queue_name: str | None = None  # the queue it runs in (claimed through that queue's limits)
    paused: bool = False  # ``app.pause`` was asked and not undone (status PAUSED once no worker holds it)
    forked_from: str | None = None  # ``app.fork``: the instance this one's history was copied from
    forked_at: int | None = None  # ... and the first position it did not copy (where the fork re-runs)
    singleton_key: str | None = None  # ``with_options(singleton_key=...)``: the key it holds or is QUEUED for


@dataclass(frozen=True, slots=True)
class NewInstance:
    """What ``start()`` stores for a new instance."""

    instance_id: str
    workflow_name: str
    input: Payload
    input_hash: str
    service_name: str
    now: datetime
    deadline_at: datetime | None = None
    lease_owner: str | None = None  # create it already claimed by this worker (epoch 1, RUNNING)
    lease_expires_at: datetime | None = None
    parent_instance_id: str | None = None  # set for child workflows: its end is delivered to the parent
    app_version: str | None = None  # the starting app's code version
    queue: tuple[str, str | None, int] | None = None  # (queue name, key, priority): claimed by its queue


@dataclass(frozen=True, slots=True)
class CreateResult:
    """Outcome of :meth:`Storage.create_instance`: ``created`` is False when the id existed."""

    created: bool
    instance: InstanceRecord


@dataclass(frozen=True, slots=True)
class ClaimedInstance:
    """An instance this worker now holds the lease of, with the instance as it was claimed."""

    lease: Lease
    instance: InstanceRecord
    took_over_crashed: bool = False  # the previous owner's lease expired without a release
    woke_from: datetime | None = None  # the due wake-up time of a WAITING instance (wake-up latency)


@dataclass(frozen=True, slots=True)
class InstanceQuery:
    """Filter for listing instances; newest first, bounded by ``limit``.

    Attributes:
        statuses: only these statuses (None: any).
        workflow_name: only this workflow.
        created_after / created_before: half-open time range on creation time.
        input_equals: pairs of (top-level input field, JSON scalar) that must all match.
        limit: at most this many rows (1..1000).
        before: keyset cursor ``(created_at, instance_id)`` from the last row of the previous page.
        app_version: only instances started by apps of this code version.
    """

    statuses: frozenset[InstanceStatus] | None = None
    workflow_name: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    input_equals: tuple[tuple[str, JsonScalar], ...] = ()
    limit: int = 100
    before: tuple[datetime, str] | None = None
    app_version: str | None = None


@dataclass(frozen=True, slots=True)
class FinishRequest:
    """Final state written by the runner when an instance ends or parks."""

    status: InstanceStatus
    output: Payload = NO_PAYLOAD
    error: ErrorInfo | None = None
    blocked_reason: str | None = None


class CancelOutcome(enum.StrEnum):
    """What :meth:`Storage.request_cancel` did."""

    REQUESTED = "requested"
    ALREADY_REQUESTED = "already-requested"
    ALREADY_FINISHED = "already-finished"
    NOT_FOUND = "not-found"


class RecordOutcome(enum.StrEnum):
    """What :meth:`Storage.record_step` did."""

    RECORDED = "recorded"
    CONFLICT = "conflict"  # the position was already recorded by someone else: adopt the stored entry
    LEASE_LOST = "lease-lost"  # the epoch moved on: this worker must stop


@dataclass(frozen=True, slots=True)
class InstanceProgress:
    """Progress of an instance as a person would describe it.

    Attributes:
        steps_completed: steps recorded so far: activities, compensations, timers, waits, sends and
            child starts; the internal ``ctx.now()`` / ``uuid()`` / ``random()`` values do not count.
        last_completed_step: name of the most recent of those steps (None before the first).
        current_step: what the instance is doing now: the activity running (known to the process that
            runs it) or what it waits for (e.g. ``event 'approval'``); None when it is finished, between
            steps, or running in another process.
    """

    steps_completed: int
    last_completed_step: str | None
    current_step: str | None = None

    @property
    def last_step(self) -> str | None:
        """The older name of :attr:`last_completed_step`."""
        return self.last_completed_step


#: ``ErrorInfo.type_name`` of the ``edda_attempts`` mark "an at-most-once attempt started, no outcome yet".
OUTCOME_UNKNOWN_MARK: Final = "durable_core:at-most-once-attempt-started"
#: ``ErrorInfo.type_name`` of the mark that replaces it when an operator answers (``args`` holds the answer).
OUTCOME_ANSWER_MARK: Final = "durable_core:at-most-once-outcome-answered"


@dataclass(frozen=True, slots=True)
class OutcomeAnswer:
    """An operator's answer about an interrupted at-most-once attempt.

    Attributes:
        happened: whether the attempt took effect outside (the charge was made, the mail was sent).
        result: with ``happened=True``, the JSON value recorded as the activity's result.
        answered_by: who answered (kept with the answer).
    """

    happened: bool
    result: JsonValue = None
    answered_by: str = "api"


@dataclass(frozen=True, slots=True)
class AttemptState:
    """Durable attempt counter of one step (survives crashes)."""

    position: int
    attempts: int
    last_error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class MigrationStep:
    """One schema migration: version number, description and the DDL for a dialect."""

    version: int
    description: str
    statements: tuple[str, ...] = field(default_factory=tuple)


# -- events, messages and waits ------------------------------------------------------------------------
class WaitKind(enum.StrEnum):
    """What a wait key listens to."""

    EVENT = "event"  # wait_event(event_type)
    MESSAGE = "message"  # receive(channel)
    CHILD = "child"  # the end of a child workflow


@dataclass(frozen=True, slots=True, order=True)
class WaitKey:
    """One thing an instance can wait for: an event type, a channel, or a child's end.

    Attributes:
        kind: events, channel messages and children live in separate namespaces.
        name: the event type, channel name or child instance id.
    """

    kind: WaitKind
    name: str

    @property
    def token(self) -> str:
        """The stored form, ``"<kind>:<name>"``."""
        return f"{self.kind.value}:{self.name}"

    @staticmethod
    def parse(token: str) -> WaitKey:
        """Rebuild a key from :attr:`token`."""
        kind, _, name = token.partition(":")
        return WaitKey(WaitKind(kind), name)


class SubscriptionMode(enum.StrEnum):
    """How a channel subscription shares messages with other subscribers."""

    COMPETING = "competing"  # each message goes to exactly one competing subscriber
    BROADCAST = "broadcast"  # each message goes to every broadcast subscriber


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message or event to store (and wake its receivers) in one transaction.

    Attributes:
        key: the event type / channel it is sent on.
        data: the payload (JSON or bytes).
        metadata: CloudEvents attributes and extensions (JSON object), kept with the message.
        target_instance_id: deliver to this instance's mailbox only (kept even if it is not waiting).
            Without a target, an EVENT key reaches every instance waiting for it at commit time; a
            MESSAGE key (channel) reaches each broadcast subscriber plus one shared copy that exactly
            one competing subscriber takes.
    """

    key: WaitKey
    data: Payload
    metadata: dict[str, JsonValue]
    target_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message taken from a mailbox or channel queue."""

    message_id: int
    key: WaitKey
    data: Payload
    metadata: dict[str, JsonValue]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What storing an :class:`OutgoingMessage` did.

    Attributes:
        stored: how many mailbox/queue rows were written.
        woken: instances that were WAITING for the key and are now runnable.
        record_outcome: for a journaled send, whether its history entry was recorded (if not, nothing
            was sent).
        claimed: instances the send woke and leased to the local worker in the same transaction.
        handed_off: the send recorded the end of the target's wait itself (no message was stored).
    """

    stored: int
    woken: tuple[str, ...] = ()
    record_outcome: RecordOutcome = RecordOutcome.RECORDED
    claimed: tuple[ClaimedInstance, ...] = ()
    handed_off: bool = False


@dataclass(frozen=True, slots=True)
class WaitRegistration:
    """What a suspended instance waits for: any of ``keys``, or ``wake_at`` (whichever is first).

    Attributes:
        keys: the events / channels / children it listens to (empty for a plain timer).
        wake_at: when it must run again regardless (timer or timeout), or None.
        schemas: JSON schema of the expected data per event-type key (``wait_event(model=...)``).
    """

    keys: tuple[WaitKey, ...] = ()
    wake_at: datetime | None = None
    schemas: tuple[tuple[str, JsonValue], ...] = ()


class ParkOutcome(enum.StrEnum):
    """Result of parking an instance."""

    PARKED = "parked"
    MESSAGE_AVAILABLE = "message-available"  # something it waits for is already there: keep running
    LEASE_LOST = "lease-lost"


@dataclass(frozen=True, slots=True)
class WaitInfo:
    """What a WAITING instance waits for (for status pages, MCP status tools, elicitation).

    Attributes:
        event_types: event types it waits for (``wait_event``).
        channels: channels it waits on (``receive``).
        children: child instance ids whose end it waits for.
        wake_at: when it runs again regardless (timer or timeout), or None.
        input_schemas: JSON schema of the expected event data per event type, when ``model=`` was given.
    """

    event_types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    wake_at: datetime | None = None
    input_schemas: dict[str, JsonValue] = field(default_factory=dict)


# -- storage settings ----------------------------------------------------------------------------------
class SqliteSynchronous(enum.StrEnum):
    """How hard a SQLite file database pushes each commit to disk (``PRAGMA synchronous`` in WAL mode).

    ``FULL`` (the default) syncs the write-ahead log on every commit, so every acknowledged start, event
    and step survives a power loss or OS crash. ``NORMAL`` syncs only at checkpoints: a commit survives
    a crash of the process, but the last commits before a power loss can be lost.
    """

    FULL = "full"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class LocalClaim:
    """Lease what a send wakes to this worker, in the send's transaction (see ``Messaging.deliver``)."""

    owner: str
    lease_ttl: timedelta


@dataclass(frozen=True, slots=True)
class Handoff:
    """Record the end of the target's wait inside the send (see ``Messaging.deliver``).

    Attributes:
        epoch: the lease epoch of the run that parked the target (nobody may have claimed it since).
        entry: the history entry that records the wait's end with this message.
        retain: wait keys that stay registered (``wait_all``'s pending alternatives).
    """

    epoch: int
    entry: HistoryEntry
    retain: tuple[WaitKey, ...] = ()


# the outbox and outgoing CloudEvents live in their own leaf (this module is at its size cap); re-exported
from durable_core.outbox_types import OutboxEvent as OutboxEvent  # noqa: E402
from durable_core.outbox_types import OutboxOutcome as OutboxOutcome  # noqa: E402
from durable_core.outbox_types import OutboxRecord as OutboxRecord  # noqa: E402
from durable_core.outbox_types import OutboxStatus as OutboxStatus  # noqa: E402
from durable_core.outbox_types import OutgoingEvent as OutgoingEvent  # noqa: E402
