"""``OutboxRelayer``: delivers committed outbox rows as CloudEvents over HTTP POST.

Each round claims a batch of due rows (``FOR UPDATE SKIP LOCKED`` where the database has it, so several
relayers on one database never hold the same row), posts them concurrently, and stores every outcome:

* 2xx: SENT;
* 4xx other than 408 and 429: REJECTED, kept with the status code and response text, never retried;
* anything else (network errors, timeouts, 3xx, 5xx, 408, 429): retried with exponential backoff
  (``next_attempt_at``); after ``max_attempts`` the row is FAILED (kept).

A claim lasts ``visibility_timeout`` seconds: if the relayer dies with rows claimed, they become due again
afterwards and any relayer delivers them. Each request has a total deadline of ``request_timeout`` (below
the visibility timeout), so a slow receiver cannot hold a row past its claim. Delivery is therefore at
least once; the CloudEvent ``id`` is stable per row, so receivers de-duplicate on it. All due times come
from the app's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http.event import CloudEvent

from durable_core.clock import Clock
from durable_core.errors import ConfigurationError
from durable_core.observers import Observers
from durable_core.retry import RetryPolicy
from durable_core.storage.base import Storage
from durable_core.types import OutboxOutcome, OutboxRecord, OutboxStatus

if TYPE_CHECKING:
    from durable_core.engine.options import OutboxOptions
    from durable_core.engine.services import EngineServices

__all__ = ["OutboxMode", "OutboxRelayer", "cloudevent_request", "relayer_for"]

logger = logging.getLogger("durable_core.outbox")

RETRYABLE_4XX: Final = frozenset({408, 429})
MAX_RESPONSE_TEXT: Final = 2000
#: how long ``stop()`` lets a delivery round in flight finish (beyond its request timeout)
STOP_GRACE: Final = 5.0


class OutboxMode(enum.StrEnum):
    """CloudEvents HTTP content mode."""

    BINARY = "binary"  # attributes in ce-* headers, data as the body
    STRUCTURED = "structured"  # one application/cloudevents+json document


def _time(record: OutboxRecord) -> str:
    return record.event.created_at.isoformat().replace("+00:00", "Z")


def _header_value(value: str) -> str:
    """Percent-encode a ``ce-*`` header value as the CloudEvents HTTP binding requires.

    Space, ``"``, ``%`` and everything outside printable ASCII (as its UTF-8 bytes) are encoded.
    """
    return "".join(c if "!" <= c <= "~" and c not in '"%' else quote(c, safe="") for c in value)


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return kind in ("application/json", "text/json") or kind.endswith("+json")


def _binary_data(content_type: str | None) -> Any:
    """SDK data marshaller for binary mode: JSON, except a string of a non-JSON type goes as its text."""

    def marshal(data: Any) -> Any:
        if isinstance(data, bytes | bytearray):
            return bytes(data)
        if isinstance(data, str) and not _is_json(content_type):
            return data.encode("utf-8")
        return json.dumps(data)

    return marshal


def cloudevent_request(record: OutboxRecord, mode: OutboxMode | str) -> tuple[dict[str, str], bytes]:
    """HTTP headers and body of ``record``'s CloudEvent in ``mode`` (via the ``cloudevents`` SDK).

    In binary mode the ``ce-*`` header values are percent-encoded (non-ASCII subjects, sources and
    extension values travel intact), and a string payload of a non-JSON ``datacontenttype`` (e.g.
    ``text/plain``) is sent as its text, not as a JSON string.
    """
    event = record.event
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.event_id,
        "source": event.event_source,
        "type": event.event_type,
        "time": _time(record),
    }
    if event.subject is not None:
        attributes["subject"] = event.subject
    if event.data_content_type is not None:
        attributes["datacontenttype"] = event.data_content_type
    structured = OutboxMode(mode) is OutboxMode.STRUCTURED
    for name, value in event.extensions:
        # a header carries the canonical string of a CloudEvents Boolean: "true" / "false"
        attributes[name] = value if structured or not isinstance(value, bool) else str(value).lower()
    data: Any = event.data_blob if event.data_blob is not None else event.data_json
    ce = CloudEvent(attributes, data)
    if structured:
        headers, body = to_structured(ce)
        return {k.lower(): str(v) for k, v in headers.items()}, body
    headers, body = to_binary(ce, data_marshaller=_binary_data(event.data_content_type))
    if data is None:
        body = b""
    encoded = {k.lower(): str(v) for k, v in headers.items()}
    return {k: _header_value(v) if k.startswith("ce-") else v for k, v in encoded.items()}, body


class OutboxRelayer:
    """Delivers outbox rows of ``storage`` to ``target_url``.

    Args:
        storage: the app's storage.
        clock: the app's clock (all due times and backoff use it).
        target_url: where every event is POSTed.
        mode: ``"binary"`` (ce-* headers) or ``"structured"`` (``application/cloudevents+json``).
        poll_interval: seconds between scans when the outbox is empty (a full batch rescans at once).
        batch_size: rows claimed (and posted concurrently) per round.
        visibility_timeout: seconds a claim hides its rows from other relayers; must exceed
            ``request_timeout``.
        request_timeout: total deadline of one delivery (connect, send, answer), seconds.
        retry_policy: backoff between attempts of a row, and ``max_attempts`` (jitter is applied).
        relayer_id: name used in claims (default: random).
        http_client: an ``httpx.AsyncClient`` to use (closed by the caller); default: one owned here.
        observers: told of every failed delivery attempt (default: a fan-out of its own).
    """

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        target_url: str,
        *,
        mode: OutboxMode | str = OutboxMode.BINARY,
        poll_interval: float = 1.0,
        batch_size: int = 20,
        visibility_timeout: float = 60.0,
        request_timeout: float = 10.0,
        retry_policy: RetryPolicy | None = None,
        relayer_id: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        observers: Observers | None = None,
    ) -> None:
        try:
            self.mode = OutboxMode(mode)
        except ValueError:
            raise ConfigurationError(f"outbox mode must be 'binary' or 'structured', got {mode!r}") from None
        if not target_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"outbox target URL must be http(s)://..., got {target_url!r}")
        if poll_interval <= 0 or type(batch_size) is not int or batch_size < 1:
            raise ConfigurationError("outbox poll_interval must be > 0 and batch_size a positive int")
        if not 0 < request_timeout < visibility_timeout:
            raise ConfigurationError("outbox request_timeout must be > 0 and below visibility_timeout")
        self.policy = retry_policy or RetryPolicy(
            max_attempts=10, initial_interval=1.0, max_interval=300.0, max_duration=None
        )
        if self.policy.max_attempts is None:
            raise ConfigurationError("the outbox retry policy needs max_attempts")
        self.target_url = target_url
        self.relayer_id = relayer_id or f"outbox-{secrets.token_hex(6)}"
        self._storage = storage
        self._clock = clock
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._visibility = timedelta(seconds=visibility_timeout)
        self._client = http_client
        self._owns_client = http_client is None
        self._request_timeout = request_timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        #: told of failed deliveries (the app passes its own, so its metrics see them)
        self.observers = observers if observers is not None else Observers()

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background delivery loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.relayer_id)

    async def stop(self) -> None:
        """Stop the loop, letting a delivery round in flight finish and store its outcomes first.

        A round still running ``request_timeout`` + 5 s later is cancelled; rows it claimed but did not
        report become due again after the visibility timeout (and are then delivered again).
        """
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), self._request_timeout + STOP_GRACE)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._stopping = False
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def wake(self) -> None:
        """Scan now instead of at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                handled = await self.relay_once()
            except Exception:  # the database is down: keep the relayer alive and retry
                logger.exception("outbox relayer %s: delivery round failed", self.relayer_id)
                handled = 0
            if handled < self._batch_size and not self._stopping:
                await self._idle()

    async def _idle(self) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(self._poll_interval))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    # -- one round ------------------------------------------------------------------------------------
    async def claim(self) -> tuple[str, list[OutboxRecord]]:
        """Claim one batch of due rows; return the claim token and the rows (exposed for tests)."""
        token = f"{self.relayer_id}:{secrets.token_hex(4)}"
        assert self.policy.max_attempts is not None
        rows = await self._storage.outbox().claim(
            token, self._clock.now(), self._visibility, self._batch_size, self.policy.max_attempts
        )
        return token, rows

    async def relay_once(self) -> int:
        """Claim one batch, deliver it, store the outcomes; return how many rows were handled."""
        token, rows = await self.claim()
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(row) for row in rows))
        await self._storage.outbox().record_outcomes(token, outcomes, self._clock.now())
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome.status is not OutboxStatus.SENT:
                final = outcome.status is not OutboxStatus.PENDING  # FAILED or REJECTED: given up on
                self.observers.outbox_delivery_failed(row.event.event_type, final)
                logger.warning(
                    "outbox event %s (%s) attempt %d: %s %s",
                    row.event.event_id,
                    row.event.event_type,
                    row.attempts,
                    outcome.status.value,
                    outcome.error,
                )
        return len(rows)

    async def _deliver(self, row: OutboxRecord) -> OutboxOutcome:
        event_id = row.event.event_id
        try:
            headers, body = cloudevent_request(row, self.mode)
        except Exception as exc:  # cannot be encoded: retrying would not help
            return OutboxOutcome(event_id, OutboxStatus.REJECTED, error=f"cannot encode: {exc}")
        try:
            async with asyncio.timeout(self._request_timeout):  # total, not per read: the claim must hold
                code, text = await self._post(headers, body)
        except TimeoutError:
            return self._retry_or_fail(row, None, f"no answer within {self._request_timeout:g} s")
        except Exception as exc:  # network errors, and anything else one row's request raises
            return self._retry_or_fail(row, None, f"{type(exc).__name__}: {exc}")
        if 200 <= code < 300:
            return OutboxOutcome(event_id, OutboxStatus.SENT, status_code=code)
        if 400 <= code < 500 and code not in RETRYABLE_4XX:
            return OutboxOutcome(event_id, OutboxStatus.REJECTED, status_code=code, error=text)
        return self._retry_or_fail(row, code, text or f"HTTP {code}")

    async def _post(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """POST one event; return the status and (for non-2xx) at most ``MAX_RESPONSE_TEXT`` of the answer."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._request_timeout)
        async with self._client.stream("POST", self.target_url, headers=headers, content=body) as response:
            if 200 <= response.status_code < 300:
                return response.status_code, ""
            kept = bytearray()
            async for chunk in response.aiter_bytes():
                kept += chunk
                if len(kept) >= MAX_RESPONSE_TEXT:
                    break  # never read an unbounded error page into memory
            return response.status_code, kept[:MAX_RESPONSE_TEXT].decode("utf-8", errors="replace")

    def _retry_or_fail(self, row: OutboxRecord, code: int | None, error: str) -> OutboxOutcome:
        event_id = row.event.event_id
        assert self.policy.max_attempts is not None
        if row.attempts >= self.policy.max_attempts:
            return OutboxOutcome(event_id, OutboxStatus.FAILED, status_code=code, error=error)
        retry_at = self._clock.now() + timedelta(seconds=self.policy.delay_before(row.attempts))
        return OutboxOutcome(event_id, OutboxStatus.PENDING, status_code=code, error=error, retry_at=retry_at)


def relayer_for(services: EngineServices, options: OutboxOptions, relayer_id: str) -> OutboxRelayer | None:
    """The relayer an app with these outbox options runs (None without a target URL)."""
    if options.target_url is None:
        return None
    return OutboxRelayer(
        services.storage,
        services.clock,
        options.target_url,
        mode=options.mode,
        poll_interval=options.poll_interval,
        retry_policy=options.retry_policy,
        relayer_id=relayer_id,
        observers=services.observers,
    )
