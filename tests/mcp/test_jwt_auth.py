"""JWT access tokens checked against an issuer's JWKS served on 127.0.0.1, with locally minted keys."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from edda_mcp.jwt_auth import JwtSettings, JwtVerifier
from tests.mcp.support import free_port, http_server

ISSUER = "https://issuer.example.test"
AUDIENCE = "https://mcp.example.test/mcp"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class Issuer:
    """A JWKS endpoint on 127.0.0.1 and the keys behind it (``published`` may change: key rotation)."""

    url: str
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    fetches: int = 0

    def mint(self, kid: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-1",
            "client_id": "app-1",
            "scope": "orders read",
            "iat": now,
            "exp": now + 300,
            **overrides,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    state = Issuer(url="")

    async def jwks(request: Request) -> JSONResponse:
        state.fetches += 1
        return JSONResponse({"keys": [public_jwk(state.keys[kid], kid) for kid in state.published]})

    state.keys = {"k1": new_key(), "k2": new_key(), "rogue": new_key()}
    state.published = ["k1"]
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/jwks.json", jwks)]), log_level="warning")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    state.url = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks.json"
    try:
        yield state
    finally:
        server.should_exit = True
        await serving


def verifier_for(issuer: Issuer, **options: Any) -> JwtVerifier:
    return JwtVerifier(JwtSettings(issuer=ISSUER, jwks_url=issuer.url, audience=AUDIENCE, **options))


async def test_a_valid_token_maps_to_its_principal_and_scopes(issuer: Issuer) -> None:
    token = await verifier_for(issuer).verify_token(issuer.mint("k1"))
    assert token is not None
    assert (token.client_id, token.subject, token.resource) == ("app-1", "user-1", AUDIENCE)
    assert token.scopes == ["orders", "read"] and token.claims is not None and token.claims["iss"] == ISSUER


@pytest.mark.parametrize(
    ("kid", "overrides"),
    [
        ("k1", {"aud": "https://elsewhere.example/mcp"}),
        ("k1", {"iss": "https://other-issuer.example"}),
        ("k1", {"exp": int(time.time()) - 3600}),
        ("k1", {"exp": None}),
        ("rogue", {}),  # signed by a key the issuer never published
    ],
)
async def test_tokens_for_another_audience_issuer_time_or_key_are_refused(
    issuer: Issuer, kid: str, overrides: dict[str, Any]
) -> None:
    assert await verifier_for(issuer).verify_token(issuer.mint(kid, **overrides)) is None


async def test_symmetric_unsigned_and_garbage_tokens_are_refused(issuer: Issuer) -> None:
    verifier = verifier_for(issuer)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    hmac = jwt.encode(claims, "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256")
    unsigned = jwt.encode(claims, "", algorithm="none")
    assert await verifier.verify_token(hmac) is None
    assert await verifier.verify_token(unsigned) is None
    assert await verifier.verify_token("not.a.jwt") is None


async def test_a_rotated_key_is_fetched_once_and_then_cached(issuer: Issuer) -> None:
    verifier = verifier_for(issuer, refetch_interval_seconds=0)
    assert await verifier.verify_token(issuer.mint("k1")) is not None
    issuer.published = ["k1", "k2"]  # the issuer rotates in a new key
    assert await verifier.verify_token(issuer.mint("k2")) is not None
    assert await verifier.verify_token(issuer.mint("k2")) is not None
    assert issuer.fetches == 2


async def test_edda_mcp_serve_with_jwt_issuer_and_jwks(tmp_path: Path, issuer: Issuer) -> None:
    db_url = f"sqlite:///{tmp_path / 'jwt.db'}"
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/mcp"
    argv = ["-m", "edda_mcp", "serve", "tests.mcp.programs.remote_server:server", "--db", db_url]
    argv += ["--transport", "http", "--jwt-issuer", ISSUER, "--jwks-url", issuer.url]
    argv += ["--public-url", public_url, "--required-scope", "orders", "--port"]
    good = issuer.mint("k1", aud=public_url)
    foreign = issuer.mint("k1")  # issued for another resource
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with http_server(db_url, tmp_path, argv=argv, port=port) as (url, _):
        async with httpx.AsyncClient(timeout=30) as http:
            anonymous = await http.post(url, json=listing, headers=headers)
            wrong_audience = await http.post(
                url, json=listing, headers={**headers, "Authorization": f"Bearer {foreign}"}
            )
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {good}"}, timeout=30) as authed,
            Client(streamable_http_client(url, http_client=authed)) as client,
        ):
            result = await client.call_tool("remote_steps", {"order_id": "J"})
    assert anonymous.status_code == 401 and "resource_metadata=" in anonymous.headers["www-authenticate"]
    assert wrong_audience.status_code == 401
    assert result.structured_content is not None, result
    assert result.structured_content["result"] == ["J:reserve", "J:charge", "J:ship"]
