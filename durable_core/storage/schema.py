"""The tables, declared once with SQLAlchemy Core (every name is prefixed ``edda_``).

Column types that differ per dialect are expressed here as variants, so queries never care:

* datetimes are :class:`UTCDateTime` - ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, ``DATETIME(6)`` on
  MySQL/MariaDB (naive UTC), ISO text on SQLite - always microsecond precision, always returned as
  aware UTC datetimes;
* JSON is ``JSONB`` on PostgreSQL, ``JSON`` elsewhere; SQL NULL for ``None``;
* bytes are ``BYTEA`` / ``LONGBLOB`` / ``BLOB`` and stay bytes.

Every id column is ``VARCHAR(255)`` with a binary (case-sensitive) collation on MySQL, so indexed keys
fit the InnoDB limit with ``utf8mb4``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "ATTEMPTS",
    "CONTROL_LOG",
    "CONTROL_TABLES",
    "FLOW_KEYS",
    "HISTORY",
    "HISTORY_ARCHIVE",
    "ID_PATTERN_INDEX_DDL",
    "INSTANCES",
    "INSTANCE_CHILD_TABLES",
    "KEY_LOCKS",
    "MESSAGES",
    "METADATA",
    "OPERATOR_ACTIONS",
    "OPERATOR_TABLES",
    "OUTBOX",
    "OUTBOX_INSTANCE_INDEX",
    "QUEUES",
    "QUEUE_KEYS",
    "QUEUE_TABLES",
    "RATE_LIMITS",
    "SCHEDULES",
    "SCHEDULE_TABLES",
    "SCHEMA_VERSION",
    "STREAM_CHUNKS",
    "STREAM_TABLES",
    "SUBSCRIPTIONS",
    "V1_TABLES",
    "V3_TABLES",
    "V5_TABLES",
    "WAITS",
    "WORKERS",
    "WORKFLOW_STATUS_INDEX",
    "UTCDateTime",
    "run_control_columns",
]

ID_LENGTH: Final = 255

_MYSQL_TABLE_ARGS: Final[dict[str, Any]] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime with microsecond precision on every dialect.

    Naive datetimes passed in are taken to be UTC; aware ones are converted to UTC. Values read back are
    always aware UTC datetimes.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick the column type of ``dialect``."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True, precision=6))
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalize to UTC; naive for dialects whose column has no time zone."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "postgresql":
            return aware
        return aware.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"unexpected datetime value from the database: {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> TypeEngine[Any]:
    return JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _blob() -> TypeEngine[Any]:
    return LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def _id(name: str, *args: Any, **kw: Any) -> Column[Any]:
    return Column(name, String(ID_LENGTH), *args, **kw)


def _payload_columns(prefix: str) -> list[Column[Any]]:
    return [
        Column(f"{prefix}_encoding", String(16), nullable=False, default="none"),
        Column(f"{prefix}_json", _json(), nullable=True),
        Column(f"{prefix}_blob", _blob(), nullable=True),
    ]


METADATA: Final = MetaData()

SCHEMA_VERSION: Final = Table(
    "edda_schema_version",
    METADATA,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(255), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=True),
    **_MYSQL_TABLE_ARGS,
)


PARENT_INDEX: Final = "ix_edda_instances_parent"
VERSION_INDEX: Final = "ix_edda_instances_version_created"
QUEUE_INDEX: Final = "ix_edda_instances_queue"
SINGLETON_INDEX: Final = "ix_edda_instances_singleton"
#: covers the workflow-by-status counts (the ``edda_instances`` gauge): an index-only scan (v13)
WORKFLOW_STATUS_INDEX: Final = "ix_edda_instances_workflow_status"


def queue_columns() -> list[Any]:
    """Columns (and index) migration v9 adds to ``edda_instances``: queue placement of an instance."""
    return [
        _id("queue_name", nullable=True),  # NULL: not queued (claimed by the plain claim)
        _id("queue_key", nullable=True),
        Column("priority", Integer, nullable=True),
        Column("queue_admitted_at", UTCDateTime(), nullable=True),  # its first claim (the "start")
        Index(QUEUE_INDEX, "queue_name", "queue_key", "status"),
    ]


def run_control_columns() -> list[Column[Any]]:
    """The ``edda_instances`` columns added by migration v11 (run control), in order."""
    return [
        # app.pause: an operator's request; never written by a worker, so no stale run can undo it
        Column("paused", Boolean, nullable=False, default=False, server_default=false()),
        _id("forked_from", nullable=True),  # app.fork: the source instance ...
        Column("forked_at", Integer, nullable=True),  # ... and the first position not copied
    ]


def singleton_columns() -> list[Any]:
    """The column (and index) migration v12 adds to ``edda_instances``: the singleton key an instance took.

    Set on every instance started with ``singleton_key`` (the one holding the key and those QUEUED behind
    it); the index finds the oldest QUEUED start of a key when the holder hands the key over.
    """
    return [
        _id("singleton_key", nullable=True),
        Index(SINGLETON_INDEX, "workflow_name", "singleton_key", "status", "created_at"),
    ]


def _instances_table(metadata: MetaData, *, version: int) -> Table:
    """``edda_instances`` as of schema ``version`` (v1 is frozen; later columns come from migrations)."""
    later: list[Any] = []
    if version >= 3:  # child workflows (migration v3)
        later += [_id("parent_instance_id", nullable=True), Index(PARENT_INDEX, "parent_instance_id")]
    if version >= 6:  # code versions and the replay frontier of ctx.patched (migration v6)
        later += [_id(name, nullable=True) for name in ("app_version", "last_run_version")]
        later += [Column("replay_frontier", Integer, nullable=True)]
        later += [Index(VERSION_INDEX, "app_version", "created_at")]
    if version >= 9:  # queues (migration v9)
        later += queue_columns()
    if version >= 11:  # run control (migration v11)
        later += [*run_control_columns()]
    if version >= 12:  # singleton keys with on_conflict="queue" (migration v12)
        later += singleton_columns()
    if version >= 13:  # counts by workflow and status without a table scan (migration v13)
        later += [Index(WORKFLOW_STATUS_INDEX, "workflow_name", "status")]
    return Table(
        "edda_instances",
        metadata,
        _id("instance_id", primary_key=True),
        Column("workflow_name", String(ID_LENGTH), nullable=False),
        Column("service_name", String(ID_LENGTH), nullable=False, default=""),
        Column("status", String(16), nullable=False),
        *_payload_columns("input"),
        Column("input_hash", String(128), nullable=False),
        *_payload_columns("output"),
        Column("error", _json(), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Column("finished_at", UTCDateTime(), nullable=True),
        Column("deadline_at", UTCDateTime(), nullable=True),
        Column("wake_at", UTCDateTime(), nullable=True),
        _id("lease_owner", nullable=True),
        Column("lease_epoch", BigInteger, nullable=False, default=0),
        Column("lease_expires_at", UTCDateTime(), nullable=True),
        Column("cancel_requested", Boolean, nullable=False, default=False),
        Column("cancel_reason", Text, nullable=True),
        _id("cancelled_by", nullable=True),
        Column("blocked_reason", Text, nullable=True),
        Column("crash_count", Integer, nullable=False, default=0),
        # runnable scans: PENDING/RUNNING/COMPENSATING by lease expiry, WAITING by wake time
        Index("ix_edda_instances_status_lease", "status", "lease_expires_at"),
        Index("ix_edda_instances_status_wake", "status", "wake_at"),
        # listing (newest first, keyset on created_at + instance_id)
        Index("ix_edda_instances_created", "created_at", "instance_id"),
        Index("ix_edda_instances_workflow_created", "workflow_name", "created_at"),
        Index("ix_edda_instances_status_created", "status", "created_at"),
        # retention and dead-owner recovery
        Index("ix_edda_instances_finished", "finished_at"),
        Index("ix_edda_instances_lease_owner", "lease_owner"),
        *later,
        **_MYSQL_TABLE_ARGS,
    )


INSTANCES: Final = _instances_table(METADATA, version=13)

HISTORY: Final = Table(
    "edda_history",
    METADATA,
    _id("instance_id", ForeignKey("edda_instances.instance_id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("args_hash", String(128), nullable=False),
    Column("outcome", String(8), nullable=False),
    *_payload_columns("result"),
    Column("error", _json(), nullable=True),
    Column("retry", _json(), nullable=True),
    Column("recorded_at", UTCDateTime(), nullable=True),
    **_MYSQL_TABLE_ARGS,
)

ATTEMPTS: Final = Table(
    "edda_attempts",
    METADATA,
    _id("instance_id", ForeignKey("edda_instances.instance_id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", _json(), nullable=True),
    **_MYSQL_TABLE_ARGS,
)

#: Tables created by migration v1 (the version table is bootstrapped separately). ``edda_instances`` is
#: frozen at its v1 shape here; columns added later come from their own migrations.
V1_TABLES: Final[tuple[Table, ...]] = (_instances_table(MetaData(), version=1), HISTORY, ATTEMPTS)

#: Tables keyed by ``instance_id`` whose rows are deleted with their instance (children first).
#: Later migrations that add such tables append them here.
INSTANCE_CHILD_TABLES: Final[list[Table]] = [HISTORY, ATTEMPTS]

#: The transactional outbox (added by the outbox migration). Not keyed to an instance on purpose: unsent
#: and rejected events outlive the purge of their workflow instance.
OUTBOX: Final = Table(
    "edda_outbox",
    METADATA,
    _id("event_id", primary_key=True),  # the CloudEvent id, generated when the row is written
    Column("event_type", String(ID_LENGTH), nullable=False),
    Column("event_source", String(1024), nullable=False),
    Column("subject", String(1024), nullable=True),
    Column("data_content_type", String(ID_LENGTH), nullable=True),
    Column("extensions", _json(), nullable=True),
    *_payload_columns("data"),
    _id("instance_id", nullable=True),
    Column("activity_id", String(512), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    _id("claimed_by", nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    # the relayer's claim scan: pending rows by due time (a claim pushes next_attempt_at to claimed_until)
    Index("ix_edda_outbox_status_due", "status", "next_attempt_at"),
    # listing by status, oldest first, and listing everything
    Index("ix_edda_outbox_status_created", "status", "created_at", "event_id"),
    Index("ix_edda_outbox_created", "created_at", "event_id"),
    **_MYSQL_TABLE_ARGS,
)

# -- events, channel messages, waits (migration v3) ---------------------------------------------------------
_SEQ = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY

#: Mailboxes and channel queues. ``target_instance_id`` set: the message belongs to that instance (kept
#: until a wait takes it). NULL: a competing channel's shared queue, taken by exactly one subscriber.
MESSAGES: Final = Table(
    "edda_messages",
    METADATA,
    Column("message_id", _SEQ, primary_key=True, autoincrement=True),
    _id("target_instance_id", nullable=True),
    Column("wait_key", String(ID_LENGTH), nullable=False),  # WaitKey.token ("event:<type>", ...)
    *_payload_columns("data"),
    Column("meta", _json(), nullable=True),  # CloudEvents attributes + extensions
    Column("created_at", UTCDateTime(), nullable=False),
    # mailbox / queue scan: (target, key) oldest first; "target IS NULL" uses it too
    Index("ix_edda_messages_target_key", "target_instance_id", "wait_key", "message_id"),
    **_MYSQL_TABLE_ARGS,
)

#: What a suspended instance waits for. Written when it parks, removed when the wait is satisfied.
WAITS: Final = Table(
    "edda_waits",
    METADATA,
    _id("instance_id", primary_key=True),
    Column("wait_key", String(ID_LENGTH), primary_key=True),
    Column("input_schema", _json(), nullable=True),
    Index("ix_edda_waits_key", "wait_key", "instance_id"),
    **_MYSQL_TABLE_ARGS,
)

#: Channel subscriptions; they outlive a recur and end with unsubscribe or the instance.
SUBSCRIPTIONS: Final = Table(
    "edda_subscriptions",
    METADATA,
    _id("instance_id", primary_key=True),
    Column("channel", String(ID_LENGTH), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_edda_subscriptions_channel", "channel", "instance_id"),
    **_MYSQL_TABLE_ARGS,
)

#: One row per wait key, locked by every sender and every parker of that key: it orders a send against a
#: wait being registered, so neither can miss the other (no lost wake-up).
KEY_LOCKS: Final = Table(
    "edda_key_locks",
    METADATA,
    Column("wait_key", String(ID_LENGTH), primary_key=True),
    Column("touched", BigInteger, nullable=False, default=0),
    **_MYSQL_TABLE_ARGS,
)

#: History of earlier runs of an instance that recurred (``ctx.recur``); only the newest runs are kept.
HISTORY_ARCHIVE: Final = Table(
    "edda_history_archive",
    METADATA,
    _id("instance_id", primary_key=True),
    Column("run", Integer, primary_key=True, autoincrement=False),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("args_hash", String(128), nullable=False),
    Column("outcome", String(8), nullable=False),
    *_payload_columns("result"),
    Column("error", _json(), nullable=True),
    Column("retry", _json(), nullable=True),
    Column("recorded_at", UTCDateTime(), nullable=True),
    **_MYSQL_TABLE_ARGS,
)

V3_TABLES: Final[tuple[Table, ...]] = (MESSAGES, WAITS, SUBSCRIPTIONS, KEY_LOCKS, HISTORY_ARCHIVE)
INSTANCE_CHILD_TABLES.extend([WAITS, SUBSCRIPTIONS, HISTORY_ARCHIVE])

# -- worker liveness (migration v5) ---------------------------------------------------------------------
#: One row per running worker process, kept alive by its heartbeat. Every time here is *database* time
#: (see :mod:`durable_core.storage.dbtime`), so hosts with skewed clocks agree on who is dead. A worker
#: whose row has expired is dead: the leases it holds may be taken over before they expire.
WORKERS: Final = Table(
    "edda_workers",
    METADATA,
    _id("worker_id", primary_key=True),  # the lease owner string (host:pid:token)
    Column("started_at", UTCDateTime(), nullable=False),
    Column("beat_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_edda_workers_expires", "expires_at"),  # clearing out rows of long-dead workers
    **_MYSQL_TABLE_ARGS,
)

V5_TABLES: Final[tuple[Table, ...]] = (WORKERS,)

# -- durable output streams (migration v7) -------------------------------------------------------------
#: Chunks of ``ctx.stream(name)``: per (instance, stream) a gap-free sequence assigned by the run holding
#: the lease; each chunk names the step (position) and attempt that wrote it (see docs/streams.md).
STREAM_CHUNKS: Final = Table(
    "edda_stream_chunks",
    METADATA,
    _id("instance_id", primary_key=True),
    Column("stream", String(ID_LENGTH), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("position", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("lease_epoch", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    *_payload_columns("data"),
    Column("written_at", UTCDateTime(), nullable=False),
    **_MYSQL_TABLE_ARGS,
)

STREAM_TABLES: Final[tuple[Table, ...]] = (STREAM_CHUNKS,)
INSTANCE_CHILD_TABLES.append(STREAM_CHUNKS)

# -- schedules (migration v8) -----------------------------------------------------------------------------
#: One row per schedule (see :mod:`durable_core.storage.schedules`). A tick is fired under the row's lock
#: in the transaction that creates its instance, whose id derives from the schedule id and the tick time.
SCHEDULES: Final = Table(
    "edda_schedules",
    METADATA,
    _id("schedule_id", primary_key=True),
    Column("workflow_name", String(ID_LENGTH), nullable=False),
    Column("cron", String(ID_LENGTH), nullable=True),
    Column("every_us", BigInteger, nullable=True),  # fixed interval in microseconds
    Column("timezone", String(64), nullable=False),
    Column("overlap", String(16), nullable=False),
    Column("catch_up", String(16), nullable=False),
    Column("jitter_us", BigInteger, nullable=False, default=0),
    Column("args", _json(), nullable=True),  # the validated keyword arguments (plain JSON)
    Column("paused", Boolean, nullable=False, default=False),
    Column("declared", Boolean, nullable=False, default=False),  # from @workflow(schedule=...)
    Column("next_tick_at", UTCDateTime(), nullable=False),
    Column("next_fire_at", UTCDateTime(), nullable=False),  # next_tick_at + its jitter
    Column("last_fire_at", UTCDateTime(), nullable=True),
    _id("last_instance_id", nullable=True),
    Column("buffered_tick_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # the timer loop: earliest due fire among unpaused schedules
    Index("ix_edda_schedules_due", "paused", "next_fire_at"),
    **_MYSQL_TABLE_ARGS,
)

SCHEDULE_TABLES: Final[tuple[Table, ...]] = (SCHEDULES,)

# -- flow control (migration v9) ------------------------------------------------------------------------
#: One row per queue, synced from the apps' ``Queue`` settings at start-up; claims lock it (FOR UPDATE)
#: so the running count they read holds until they commit. ``rate_state`` is the rate limiter's state.
QUEUES: Final = Table(
    "edda_queues",
    METADATA,
    _id("name", primary_key=True),
    Column("concurrency", Integer, nullable=True),
    Column("per_key_concurrency", Integer, nullable=True),
    Column("rate_count", Integer, nullable=True),
    Column("rate_per_us", BigInteger, nullable=True),
    Column("rate_burst", Integer, nullable=True),
    Column("priority", Boolean, nullable=False, default=True),
    Column("rate_state", _json(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    **_MYSQL_TABLE_ARGS,
)
#: Named rate limits (``@activity(rate_limit=name)``): each limiter's state (see ``flow.RateState``).
RATE_LIMITS: Final = Table(
    "edda_rate_limits",
    METADATA,
    _id("name", primary_key=True),
    Column("state", _json(), nullable=True),
    **_MYSQL_TABLE_ARGS,
)
#: Debounce and singleton keys: (kind, workflow, key) -> the instance that holds the key now.
FLOW_KEYS: Final = Table(
    "edda_flow_keys",
    METADATA,
    Column("kind", String(16), primary_key=True),  # "debounce" | "singleton"
    _id("workflow_name", primary_key=True),
    _id("flow_key", primary_key=True),
    _id("instance_id", nullable=False),
    **_MYSQL_TABLE_ARGS,
)

#: When each key of a queue last got a slot: claims serve the longest-waiting key first (round robin).
QUEUE_KEYS: Final = Table(
    "edda_queue_keys",
    METADATA,
    _id("queue_name", primary_key=True),
    _id("queue_key", primary_key=True),  # "" stands for "no key"
    Column("served_at", UTCDateTime(), nullable=False),
    **_MYSQL_TABLE_ARGS,
)

QUEUE_TABLES: Final[tuple[Table, ...]] = (QUEUES, RATE_LIMITS, FLOW_KEYS, QUEUE_KEYS)

# -- operator journal and console look-ups (migration v10) ----------------------------------------------
#: Operator actions (console, CLI): who did what to an instance and why. Deleted with the instance.
OPERATOR_ACTIONS: Final = Table(
    "edda_operator_actions",
    METADATA,
    Column("action_id", _SEQ, primary_key=True, autoincrement=True),
    _id("instance_id", nullable=False),
    Column("action", String(64), nullable=False),
    _id("actor", nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", _json(), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_edda_operator_actions_instance", "instance_id", "action_id"),
    **_MYSQL_TABLE_ARGS,
)

#: The outbox rows an instance produced (the console's instance page), oldest first.
OUTBOX_INSTANCE_INDEX: Final = Index(
    "ix_edda_outbox_instance", OUTBOX.c.instance_id, OUTBOX.c.created_at, OUTBOX.c.event_id
)

#: PostgreSQL only: instance ids compared byte-wise (``~>=~``, ``LIKE 'abc%'``) whatever the database's
#: collation, for the console's id-prefix search (SQLite and MySQL's binary collation use the primary key).
ID_PATTERN_INDEX_DDL: Final = "CREATE INDEX IF NOT EXISTS ix_edda_instances_id_pattern ON edda_instances (instance_id varchar_pattern_ops)"

OPERATOR_TABLES: Final[tuple[Table, ...]] = (OPERATOR_ACTIONS,)
INSTANCE_CHILD_TABLES.append(OPERATOR_ACTIONS)

# -- run control (migration v11) -------------------------------------------------------------------------
#: The journal of run-control actions (retry, fork, pause, unpause, terminate): who, why, when, what.
CONTROL_LOG: Final = Table(
    "edda_control_log",
    METADATA,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    _id("instance_id", nullable=False),
    Column("action", String(16), nullable=False),
    _id("actor", nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("detail", _json(), nullable=True),
    Index("ix_edda_control_log_instance", "instance_id", "seq"),
    **_MYSQL_TABLE_ARGS,
)

CONTROL_TABLES: Final[tuple[Table, ...]] = (CONTROL_LOG,)
INSTANCE_CHILD_TABLES.append(CONTROL_LOG)
