"""The CloudEvents endpoint next to the MCP endpoint: events and cancels into the server's engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mcp.server.auth.provider import AccessToken, TokenVerifier, principal_components

from durable_core import CancelOutcome, EddaApp, RequestInfo
from edda_mcp import access


class EngineSink:
    """An ``EventSink`` that always targets the server's current engine."""

    def __init__(self, app: Callable[[], EddaApp]) -> None:
        self._app = app

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
        """Deliver an event (committed when this returns)."""
        return await self._app().send_event(
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

    async def cancel(self, instance_id: str, reason: str = "", cancelled_by: str = "api") -> CancelOutcome:
        """Request cancellation of an instance."""
        return await self._app().cancel(instance_id, reason=reason, cancelled_by=cancelled_by)


async def verified_bearer(
    verifier: TokenVerifier, required_scopes: list[str], authorization: str
) -> AccessToken | None:
    """The access token of an ``Authorization: Bearer ...`` header if valid with the scopes, else None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    access_token = await verifier.verify_token(token.strip())
    if access_token is None or not set(required_scopes) <= set(access_token.scopes):
        return None
    return access_token


def bearer_authorizer(verifier: TokenVerifier, required_scopes: list[str]) -> Callable[[RequestInfo], Any]:
    """Require a valid bearer token with the scopes; a cancel must come from the instance's owner."""

    async def authorize(info: RequestInfo) -> bool:
        header = next((value for name, value in info.headers if name == "authorization"), "")
        access_token = await verified_bearer(verifier, required_scopes, header)
        if access_token is None:
            return False
        if info.instance_id is not None:
            principal = access.principal_of(*principal_components(access_token))
            return access.may_access(principal, info.instance_id)
        return True

    return authorize
