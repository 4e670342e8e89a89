"""Bearer tokens that are JWT access tokens, checked against the issuer's JSON Web Key Set (JWKS).

:class:`JwtVerifier` is an MCP SDK ``TokenVerifier``: a token passes when its signature verifies with a
key of the issuer's JWKS (fetched over HTTPS, cached, fetched again when a token names a key id the
cache does not have), ``iss`` is the issuer, ``aud`` contains the server's canonical URL (RFC 8707 /
the MCP authorization spec: a token issued for another resource is refused) and it has not expired.
Signature checks use PyJWT (``PyJWT[crypto]``); the key set is fetched with httpx.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from mcp.server.auth.provider import AccessToken

logger = logging.getLogger("edda_mcp")

ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
"""Algorithms accepted by default: public-key signatures only (``none`` and HMAC are never accepted)."""


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """What a valid access token looks like.

    Attributes:
        issuer: the ``iss`` every token must carry (the authorization server's issuer URL).
        jwks_url: where the issuer publishes its signing keys.
        audience: the ``aud`` every token must contain: the MCP server's canonical URL.
        algorithms: accepted signature algorithms.
        leeway_seconds: clock skew tolerated on ``exp``/``nbf``/``iat``.
        cache_seconds: how long a fetched key set is used before it is fetched again.
        refetch_interval_seconds: minimum time between fetches caused by unknown key ids.
        http_timeout_seconds: timeout of one JWKS fetch.
    """

    issuer: str
    jwks_url: str
    audience: str
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
    leeway_seconds: float = 30.0
    cache_seconds: float = 300.0
    refetch_interval_seconds: float = 10.0
    http_timeout_seconds: float = 10.0


class JwtVerifier:
    """A ``TokenVerifier`` for JWT access tokens signed with a key from the issuer's JWKS."""

    def __init__(self, settings: JwtSettings, *, http: httpx.AsyncClient | None = None) -> None:
        unsupported = [a for a in settings.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if unsupported:
            raise ValueError(f"unsupported JWT algorithms {unsupported}; use public-key algorithms only")
        self.settings = settings
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's access info if it is valid for this server, else None (the caller answers 401)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self.settings.algorithms:
            logger.info("refused a JWT signed with %r", algorithm)
            return None
        key = await self._key(kid if isinstance(kid, str) else None)
        if key is None:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            logger.info("refused a JWT: %s", exc)
            return None
        return _access_token(token, claims, self.settings.audience)

    async def _key(self, kid: str | None) -> jwt.PyJWK | None:
        async with self._lock:
            now = asyncio.get_running_loop().time()
            stale = self._fetched_at is None or now - self._fetched_at > self.settings.cache_seconds
            unknown = kid is not None and kid not in self._keys
            may_refetch = (
                self._fetched_at is None or now - self._fetched_at > self.settings.refetch_interval_seconds
            )
            if stale or (unknown and may_refetch):
                await self._fetch(now)
        if kid is not None:
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _fetch(self, now: float) -> None:
        try:
            if self._http is not None:
                response = await self._http.get(
                    self.settings.jwks_url, timeout=self.settings.http_timeout_seconds
                )
            else:
                async with httpx.AsyncClient(timeout=self.settings.http_timeout_seconds) as http:
                    response = await http.get(self.settings.jwks_url)
            response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            logger.warning("cannot fetch the JWKS at %s: %s", self.settings.jwks_url, exc)
            self._fetched_at = now  # do not hammer a broken issuer; keep the keys we had
            return
        self._keys = {k.key_id: k for k in key_set.keys if k.key_id is not None}
        if not self._keys and len(key_set.keys) == 1:
            self._keys = {"": key_set.keys[0]}
        self._fetched_at = now


def _access_token(token: str, claims: dict[str, Any], audience: str) -> AccessToken:
    scopes = _scopes(claims)
    subject = claims.get("sub")
    client_id = claims.get("client_id") or claims.get("azp") or subject or "unknown"
    expires = claims.get("exp")
    return AccessToken(
        token=token,
        client_id=str(client_id),
        scopes=scopes,
        expires_at=int(expires) if isinstance(expires, int | float) else None,
        resource=audience,
        subject=str(subject) if subject is not None else None,
        claims=claims,
    )


def _scopes(claims: dict[str, Any]) -> list[str]:
    """``scope`` (space-separated, RFC 9068) or ``scp`` (a list, as some issuers send it)."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    scp = claims.get("scp")
    if isinstance(scp, Sequence) and not isinstance(scp, str):
        return [str(s) for s in scp]
    return []
