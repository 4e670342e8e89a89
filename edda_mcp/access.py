"""Instance ids that carry their owner: who may read or cancel an instance when auth is on.

With HTTP auth, an instance id starts with a tag derived from the principal that started it
(``<tag>-<random>``); only callers whose token maps to the same tag may use it. Without auth there is
no tag and every caller may use every id. The random part keeps ids unguessable.
"""

from __future__ import annotations

import hashlib
import uuid

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import principal_components

TAG_LENGTH = 16


def current_principal() -> str | None:
    """``client_id|issuer|subject`` of the authenticated caller (None when the request has no token)."""
    token = get_access_token()
    if token is None:
        return None
    return principal_of(*principal_components(token))


def principal_of(client_id: str, issuer: str | None, subject: str | None) -> str:
    """The principal string of a token's (client_id, issuer, subject)."""
    return f"{client_id}|{issuer or ''}|{subject or ''}"


def owner_tag(principal: str | None) -> str:
    """Short stable tag of a principal ('' without one)."""
    if principal is None:
        return ""
    return hashlib.sha256(principal.encode()).hexdigest()[:TAG_LENGTH]


def new_instance_id(principal: str | None) -> str:
    """A fresh unguessable instance id owned by ``principal``."""
    tag = owner_tag(principal)
    return f"{tag}-{uuid.uuid4().hex}" if tag else uuid.uuid4().hex


def keyed_instance_id(principal: str | None, tool: str, key: str) -> str:
    """The instance id for an idempotency key: the same principal, tool and key give the same id."""
    digest = hashlib.sha256(f"{tool}\x00{key}".encode()).hexdigest()[:40]
    tag = owner_tag(principal)
    return f"{tag}-k{digest}" if tag else f"k{digest}"


def may_access(principal: str | None, instance_id: str) -> bool:
    """Whether ``principal`` may read or cancel ``instance_id`` (always, when there is no principal)."""
    if principal is None:
        return True
    return instance_id.startswith(owner_tag(principal) + "-")
