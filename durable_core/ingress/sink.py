"""What the HTTP ingress talks to: an :class:`EventSink` (``EddaApp`` is one) and an optional auth hook.

The ingress never imports the engine: it depends only on these protocols, so it can be tested against a
small fake and the engine can build on it.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from durable_core.types import CancelOutcome

__all__ = ["Authorizer", "EventSink", "IngressAction", "LifespanHandler", "RequestInfo"]


class EventSink(Protocol):
    """Receives the events and cancel requests that arrive over HTTP (``EddaApp`` satisfies it)."""

    async def send_event(
        self,
        event_type: str,
        source: str,
        data: Any,
        *,
        instance_id: str | None = None,
        subject: str | None = None,
        event_id: str | None = None,
        extensions: Mapping[str, str] | None = None,
        data_content_type: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """Deliver an event; return only after it is committed. Return the event id.

        Raises:
            InstanceNotFoundError: ``instance_id`` names no instance.
            ValueError | TypeError | InputValidationError: an argument it refuses (answered with 400).
        """
        ...

    async def cancel(self, instance_id: str, reason: str = "", cancelled_by: str = "api") -> CancelOutcome:
        """Request cancellation of an instance.

        Raises:
            InstanceNotFoundError: unknown id.
        """
        ...


class LifespanHandler(Protocol):
    """Started and stopped with the server (ASGI lifespan), or started before the first request."""

    async def initialize(self) -> None:
        """Start (must be idempotent)."""
        ...

    async def shutdown(self) -> None:
        """Stop."""
        ...


class IngressAction(enum.StrEnum):
    """What a request asks for."""

    EVENT = "event"  # POST <any path>: deliver a CloudEvent
    CANCEL = "cancel"  # POST /cancel/{instance_id}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """A request as the authorization hook sees it (before its body is read).

    Attributes:
        action: event delivery or cancel.
        method: the HTTP method.
        path: the path below the mount point (``root_path`` removed), e.g. ``/cancel/order-1``.
        root_path: where the app is mounted ("" at the root).
        headers: ``(name, value)`` pairs; names lower-case.
        client: ``(host, port)`` of the peer, when the server knows it.
        instance_id: the instance to cancel (``CANCEL`` only).
    """

    action: IngressAction
    method: str
    path: str
    root_path: str
    headers: tuple[tuple[str, str], ...]
    client: tuple[str, int] | None = None
    instance_id: str | None = None

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive; repeated headers joined by ``", "``)."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key == wanted]
        return ", ".join(values) if values else None


#: ``async def authorize(request: RequestInfo) -> bool``: True lets the request through. False answers
#: 401 when the request has no ``Authorization`` header, else 403.
Authorizer = Callable[[RequestInfo], Awaitable[bool]]
