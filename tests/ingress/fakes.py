"""A fake :class:`EventSink` and lifespan handler that record what the ingress hands them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from durable_core import CancelOutcome, InstanceNotFoundError


@dataclass(frozen=True)
class SentEvent:
    event_type: str
    source: str
    data: Any
    instance_id: str | None
    subject: str | None
    event_id: str | None
    extensions: dict[str, str] | None
    data_content_type: str | None


@dataclass
class FakeSink:
    """Knows the instances in ``instances``; ``fail`` makes every call raise it; ``gate`` blocks delivery."""

    instances: set[str] = field(default_factory=lambda: {"order-1"})
    events: list[SentEvent] = field(default_factory=list)
    cancels: list[tuple[str, str, str]] = field(default_factory=list)
    fail: Exception | None = None
    outcome: CancelOutcome = CancelOutcome.REQUESTED
    entered: asyncio.Event | None = None
    release: asyncio.Event | None = None

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
        if self.entered is not None:
            self.entered.set()
        if self.release is not None:
            await self.release.wait()
        if self.fail is not None:
            raise self.fail
        if instance_id is not None and instance_id not in self.instances:
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        self.events.append(
            SentEvent(
                event_type,
                source,
                data,
                instance_id,
                subject,
                event_id,
                None if extensions is None else dict(extensions),
                data_content_type,
            )
        )
        return event_id or "generated-id"

    async def cancel(self, instance_id: str, reason: str = "", cancelled_by: str = "api") -> CancelOutcome:
        if self.fail is not None:
            raise self.fail
        if instance_id not in self.instances:
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        self.cancels.append((instance_id, reason, cancelled_by))
        return self.outcome


@dataclass
class FakeLifespan:
    """Counts ``initialize`` / ``shutdown`` calls; ``fail_start`` makes initialize raise."""

    calls: list[str] = field(default_factory=list)
    fail_start: Exception | None = None

    async def initialize(self) -> None:
        self.calls.append("initialize")
        if self.fail_start is not None:
            raise self.fail_start

    async def shutdown(self) -> None:
        self.calls.append("shutdown")
