"""``CloudEventsASGI``: an ASGI app that turns HTTP POSTs into events for an :class:`EventSink`.

Routes (paths are relative to where the app is mounted):

* ``POST /cancel/{instance_id}`` (optional JSON body ``{"reason": "..."}``): 200
  ``{"instance_id": ..., "outcome": "requested" | "already-requested" | "already-finished"}``, 404 for an
  unknown id.
* ``POST <any other path>``: one CloudEvent (binary or structured mode). 202 ``{"status": "accepted",
  "event_id": ...}`` once the sink returned, i.e. after the event is committed.

Errors answer ``{"error", "error_type", "retryable"}``: 400 invalid CloudEvent or request (not retryable),
401/403 refused by the ``authorize`` hook, 404 unknown instance id, 405 not POST, 413 body larger than
``max_body_bytes``, 500 internal error (retryable), 503 shutting down (retryable).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final

from durable_core.errors import EddaError, InputValidationError, InstanceNotFoundError, StorageRefusedError
from durable_core.ingress.cloudevents_http import IncomingEvent, parse_cloudevent
from durable_core.ingress.errors import (
    BadRequestError,
    ForbiddenError,
    IngressError,
    MethodNotAllowedError,
    NotAuthenticatedError,
    ServiceUnavailableError,
)
from durable_core.ingress.http import (
    ClientDisconnectedError,
    Receive,
    Scope,
    Send,
    declared_length,
    header_map,
    header_pairs,
    read_body,
    route_path,
    send_json,
)
from durable_core.ingress.sink import Authorizer, EventSink, IngressAction, LifespanHandler, RequestInfo
from durable_core.types import CancelOutcome
from durable_core.validation import check_identifier

__all__ = ["DEFAULT_MAX_BODY_BYTES", "CloudEventsASGI"]

logger = logging.getLogger("durable_core.ingress")

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
CANCEL_PREFIX: Final = "/cancel/"
CANCELLED_BY: Final = "http"


class _Lifecycle:
    """Runs the lifespan handler: ``initialize`` once (lifespan startup or first request), ``shutdown``."""

    def __init__(self, handler: LifespanHandler | None) -> None:
        self._handler = handler
        self._lock = asyncio.Lock()
        self._started = handler is None
        self._stopped = False

    async def ensure_started(self) -> None:
        if self._started:
            return
        async with self._lock:
            if self._stopped:
                raise ServiceUnavailableError("the app is shutting down")
            if self._handler is not None and not self.started:
                await self._handler.initialize()
            self._started = True

    @property
    def started(self) -> bool:
        return self._started

    async def stop(self) -> None:
        async with self._lock:
            self._stopped = True
            if self._started and self._handler is not None:
                self._started = False
                await self._handler.shutdown()


class CloudEventsASGI:
    """CloudEvents over HTTP into an :class:`EventSink` (``EddaApp`` is one).

    Mount it anywhere (Starlette/FastAPI ``Mount``, a server ``--root-path``): ``/cancel/{id}`` is matched
    below the mount point. An event is addressed to one workflow instance by the CloudEvents extension
    attribute ``eddainstanceid`` (binary mode: header ``ce-eddainstanceid``).

    Args:
        sink: receives events and cancel requests.
        max_body_bytes: larger request bodies are refused with 413 (``Content-Length`` is checked before
            reading, streamed bodies are counted while reading).
        authorize: ``async (RequestInfo) -> bool`` run before the body is read; False answers 401 when the
            request has no ``Authorization`` header, else 403.
        lifespan: ``initialize()`` on ASGI lifespan startup, ``shutdown()`` on lifespan shutdown. When the
            server sends no lifespan events (WSGI, a ``Mount`` inside another app), ``initialize()`` runs
            before the first request instead.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        authorize: Authorizer | None = None,
        lifespan: LifespanHandler | None = None,
    ) -> None:
        if type(max_body_bytes) is not int or max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive int, got {max_body_bytes!r}")
        self.sink = sink
        self.max_body_bytes = max_body_bytes
        self._authorize = authorize
        self._lifecycle = _Lifecycle(lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point (``http`` and ``lifespan`` scopes)."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003})
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    # -- lifespan ----------------------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._lifecycle.ensure_started()
                except Exception as exc:
                    logger.exception("CloudEvents ingress: startup failed")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self._lifecycle.stop()
                except Exception as exc:
                    logger.exception("CloudEvents ingress: shutdown failed")
                    await send(
                        {"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: {exc}"}
                    )
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- http ----------------------------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_pairs(scope)
        path = route_path(scope)
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowedError(f"method {scope['method']} not allowed: POST CloudEvents")
            await self._lifecycle.ensure_started()
            request = self._request_info(scope, path, headers)
            await self._check_access(request)
            if request.action is IngressAction.CANCEL:
                assert request.instance_id is not None
                status, payload = await self._cancel(request.instance_id, headers, receive)
            else:
                status, payload = await self._event(headers, receive)
        except ClientDisconnectedError:
            return
        except Exception as exc:
            await self._send_error(send, exc, scope, path)
            return
        await send_json(send, status, payload)

    def _request_info(self, scope: Scope, path: str, headers: tuple[tuple[str, str], ...]) -> RequestInfo:
        client = scope.get("client")
        instance_id = None
        action = IngressAction.EVENT
        if path.startswith(CANCEL_PREFIX):
            action = IngressAction.CANCEL
            instance_id = path[len(CANCEL_PREFIX) :]
            if not instance_id:
                raise BadRequestError("POST /cancel/{instance_id}: the instance id is missing")
            try:
                check_identifier("instance_id", instance_id)
            except ValueError:  # e.g. /cancel/%00: no instance can have that id
                raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}") from None
        return RequestInfo(
            action=action,
            method=scope["method"],
            path=path,
            root_path=scope.get("root_path") or "",
            headers=headers,
            client=(str(client[0]), int(client[1])) if client else None,
            instance_id=instance_id,
        )

    async def _check_access(self, request: RequestInfo) -> None:
        if self._authorize is None or await self._authorize(request):
            return
        if not (request.header("authorization") or "").strip():
            raise NotAuthenticatedError("authentication required")
        raise ForbiddenError("not allowed")

    async def _read(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared_length(headers, self.max_body_bytes)
        return await read_body(receive, self.max_body_bytes)

    async def _event(self, pairs: tuple[tuple[str, str], ...], receive: Receive) -> tuple[int, Any]:
        headers = header_map(pairs)
        event = parse_cloudevent(headers, await self._read(headers, receive))
        event_id = await self._deliver(event)
        return 202, {"status": "accepted", "event_id": event_id}

    async def _deliver(self, event: IncomingEvent) -> str:
        try:
            return await self.sink.send_event(
                event.event_type,
                event.source,
                event.data,
                instance_id=event.instance_id,
                subject=event.subject,
                event_id=event.event_id,
                extensions=dict(event.extensions) or None,
                data_content_type=event.data_content_type,
                time=event.time,
            )
        except (ValueError, TypeError, InputValidationError) as exc:  # the sink refused an argument
            raise _Refused(exc) from exc

    async def _cancel(
        self, instance_id: str, pairs: tuple[tuple[str, str], ...], receive: Receive
    ) -> tuple[int, Any]:
        headers = header_map(pairs)
        reason = _cancel_reason(await self._read(headers, receive))
        try:
            outcome = await self.sink.cancel(instance_id, reason, CANCELLED_BY)
        except (ValueError, TypeError) as exc:  # e.g. a reason holding a NUL character
            raise _Refused(exc) from exc
        if outcome is CancelOutcome.NOT_FOUND:
            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
        return 200, {"instance_id": instance_id, "outcome": CancelOutcome(outcome).value}

    async def _send_error(self, send: Send, exc: Exception, scope: Scope, path: str) -> None:
        status, error_type, retryable, message = _describe(exc)
        if status >= 500:
            logger.error(
                "CloudEvents ingress: %s %s failed",
                scope.get("method"),
                path,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
        extra: tuple[tuple[bytes, bytes], ...] = ()
        if status == 405:
            extra = ((b"allow", b"POST"),)
        elif status == 401:
            extra = ((b"www-authenticate", b"Bearer"),)
        await send_json(
            send, status, {"error": message, "error_type": error_type, "retryable": retryable}, extra
        )


class _Refused(Exception):
    """The sink refused the event's arguments (wraps its ValueError/TypeError/InputValidationError)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _cancel_reason(body: bytes) -> str:
    if not body.strip():
        return ""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError('the cancel body must be empty or JSON like {"reason": "..."}') from None
    if not isinstance(document, dict) or not isinstance(document.get("reason", ""), str):
        raise BadRequestError('the cancel body must be empty or JSON like {"reason": "..."}')
    reason: str = document.get("reason", "")
    return reason


def _describe(exc: Exception) -> tuple[int, str, bool, str]:
    """``(status, error_type, retryable, message)`` of the error answer for ``exc``."""
    if isinstance(exc, IngressError):
        return exc.status, type(exc).__name__, exc.retryable, str(exc)
    if isinstance(exc, InstanceNotFoundError):
        return 404, type(exc).__name__, False, str(exc)
    if isinstance(exc, _Refused):
        return 400, type(exc.cause).__name__, False, f"the request was refused: {exc}"
    if isinstance(
        exc, StorageRefusedError
    ):  # data the database will never take: the same request fails again
        return 400, type(exc).__name__, False, f"the request was refused: {exc}"
    if isinstance(exc, EddaError):  # e.g. StorageUnavailableError: the database may be back soon
        name = type(exc).__name__
        return 500, name, True, f"internal error ({name}); the request may be retried"
    return 500, "InternalError", True, "internal error; the request may be retried"
