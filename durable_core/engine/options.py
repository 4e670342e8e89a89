"""Grouped options of :class:`~durable_core.engine.app.EddaApp`: workers, outbox relaying, HTTP ingress.

Each group is a frozen dataclass, so an app's configuration can be built once, passed around (for
example by ``EddaMCPServer``) and compared. The flat keywords ``EddaApp`` always accepted (``lease_ttl=``,
``outbox_target_url=``, ``max_event_bytes=`` ...) keep working: :func:`worker_options`,
:func:`outbox_options` and :func:`ingress_options` merge them into the groups.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Final, TypedDict, TypeVar

from durable_core.engine.outbox import OutboxMode
from durable_core.engine.validation import validate_options
from durable_core.errors import ConfigurationError
from durable_core.ingress import DEFAULT_MAX_BODY_BYTES, Authorizer

if TYPE_CHECKING:
    from durable_core.clock import Clock
    from durable_core.codec import PayloadCodec
    from durable_core.engine.retention import RetentionPolicy
    from durable_core.retry import RetryPolicy
    from durable_core.types import SqliteSynchronous

__all__ = ["UNSET", "AppOptions", "IngressOptions", "OutboxOptions", "Unset", "WorkerOptions"]


class Unset(enum.Enum):
    """The type of :data:`UNSET`: a keyword that was not given, where None means something."""

    UNSET = "unset"


#: Default of keywords for which None is a meaningful value (``liveness_ttl=None`` turns the heartbeat off).
UNSET: Final = Unset.UNSET

_Group = TypeVar("_Group", "WorkerOptions", "OutboxOptions", "IngressOptions")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How this process runs workflow instances.

    Attributes:
        lease_ttl: seconds a worker's claim on an instance lasts without renewal.
        poll_interval: seconds between fallback polls for work started elsewhere or abandoned.
        max_concurrent_runs: instances this process runs at once.
        shutdown_timeout: seconds ``shutdown()`` lets running instances finish before releasing them.
        run_workers: False makes a client-only app that starts and queries but never runs instances.
        liveness_ttl: seconds after its last heartbeat that a worker process counts as dead, so others
            take its instances over without waiting for ``lease_ttl`` (PostgreSQL/MySQL; None: off).
    """

    lease_ttl: float = 30.0
    poll_interval: float = 1.0
    max_concurrent_runs: int = 200
    shutdown_timeout: float = 10.0
    run_workers: bool = True
    liveness_ttl: float | None = 5.0

    def __post_init__(self) -> None:
        validate_options(
            self.lease_ttl,
            self.poll_interval,
            self.max_concurrent_runs,
            self.shutdown_timeout,
            self.liveness_ttl,
        )


@dataclass(frozen=True, slots=True)
class OutboxOptions:
    """Delivery of ``send_event_transactional`` events (the transactional outbox relayer).

    Attributes:
        target_url: when set, a relayer POSTs outbox events (CloudEvents over HTTP) here while the app runs.
        mode: :attr:`OutboxMode.BINARY` (ce-* headers) or :attr:`OutboxMode.STRUCTURED`
            (``application/cloudevents+json``); the strings ``"binary"`` / ``"structured"`` are accepted.
        poll_interval: seconds between outbox scans when it is empty.
        retry_policy: backoff and ``max_attempts`` of undelivered events.
    """

    target_url: str | None = None
    mode: OutboxMode = OutboxMode.BINARY
    poll_interval: float = 1.0
    retry_policy: RetryPolicy | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", OutboxMode(self.mode))
        except ValueError:
            raise ConfigurationError(
                f"outbox mode must be 'binary' or 'structured', got {self.mode!r}"
            ) from None


@dataclass(frozen=True, slots=True)
class IngressOptions:
    """The app's own HTTP entry point (CloudEvents and cancel requests; see docs/events-http.md).

    Attributes:
        max_event_bytes: largest CloudEvent body accepted (413 above it).
        authorize: async hook ``(RequestInfo) -> bool`` run before an event or a cancel request is
            accepted (False: 401 without an ``Authorization`` header, else 403).
    """

    max_event_bytes: int = DEFAULT_MAX_BODY_BYTES
    authorize: Authorizer | None = None


class AppOptions(TypedDict, total=False):
    """Every keyword option of ``EddaApp`` besides ``db_url``, ``service_name``, ``hooks`` and ``workflows``.

    Lets a wrapper (``EddaMCPServer``) forward options to the app it creates, type-checked.
    """

    default_retry_policy: RetryPolicy | None
    payload_codec: PayloadCodec | None
    clock: Clock | None
    auto_migrate: bool
    open_existing: bool
    pool_size: int | None
    max_overflow: int | None
    sqlite_synchronous: SqliteSynchronous | str | None
    retention: RetentionPolicy | None
    worker: WorkerOptions | None
    outbox: OutboxOptions | None
    ingress: IngressOptions | None
    # the flat spellings of the grouped options (still accepted)
    lease_ttl: float | None
    liveness_ttl: float | None
    poll_interval: float | None
    max_concurrent_runs: int | None
    shutdown_timeout: float | None
    run_workers: bool | None
    outbox_target_url: str | None
    outbox_mode: OutboxMode | str | None
    outbox_poll_interval: float | None
    outbox_retry_policy: RetryPolicy | None
    max_event_bytes: int | None
    authorize: Authorizer | None


def _merge(group: _Group | None, default: _Group, group_name: str, flat: Mapping[str, Any]) -> _Group:
    """``group`` (or the defaults) with the flat keywords that were given (not None) applied.

    A field given both ways is a configuration error naming both spellings.
    """
    given = {field: value for field, value in flat.items() if value is not None}
    if group is None:
        return replace(default, **given) if given else default
    names = {f.name for f in fields(group)}
    both = sorted(field for field in given if field in names)
    if both:
        raise ConfigurationError(
            f"give {', '.join(both)} either inside {group_name}= or as keyword(s) of EddaApp, not both"
        )
    return group


def worker_options(
    group: WorkerOptions | None, *, liveness_ttl: float | Unset | None = UNSET, **flat: Any
) -> WorkerOptions:
    """The worker options of an app from ``worker=`` and/or the flat keywords (``lease_ttl=`` ...).

    ``liveness_ttl`` counts as given even when None (None turns the heartbeat off).
    """
    if liveness_ttl is not UNSET:
        if group is not None:
            raise ConfigurationError(
                "give liveness_ttl either inside worker= or as keyword(s) of EddaApp, not both"
            )
        group = replace(_merge(None, WorkerOptions(), "worker", flat), liveness_ttl=liveness_ttl)
        return group
    return _merge(group, WorkerOptions(), "worker", flat)


def outbox_options(group: OutboxOptions | None, **flat: Any) -> OutboxOptions:
    """The outbox options of an app from ``outbox=`` and/or the ``outbox_*`` keywords."""
    return _merge(group, OutboxOptions(), "outbox", flat)


def ingress_options(group: IngressOptions | None, **flat: Any) -> IngressOptions:
    """The ingress options of an app from ``ingress=`` and/or ``max_event_bytes=`` / ``authorize=``."""
    return _merge(group, IngressOptions(), "ingress", flat)
