"""Who may use the console, and how its forms are protected.

Bearer tokens (a static token or the MCP server's token verifier), the loopback ``Host`` check, CSRF
tokens for every POST, and the headers every response carries.

Browsers cannot send an ``Authorization`` header when following a link, so a token is also accepted
from an HttpOnly ``SameSite=Strict`` cookie set by the login form. CSRF protection is a double submit:
a random token in a ``SameSite=Strict`` cookie must come back in the form's ``csrf`` field, and a
cross-origin ``Origin`` header is refused outright.
"""

from __future__ import annotations

import getpass
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from mcp.server.auth.provider import TokenVerifier
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "AUTH_COOKIE",
    "CSRF_COOKIE",
    "ConsoleAuth",
    "csrf_ok",
    "csrf_token",
    "local_host_header",
    "secure_headers",
]

AUTH_COOKIE = "edda_console_token"
CSRF_COOKIE = "edda_console_csrf"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True, slots=True)
class ConsoleAuth:
    """How requests are authenticated: a static bearer ``token`` or a ``verifier`` (one of them).

    Attributes:
        token: the shared secret a request must present (compared in constant time).
        verifier: an MCP SDK ``TokenVerifier`` (e.g. the MCP server's); its client id names the actor.
        required_scopes: scopes a verified token must carry.
    """

    token: str | None = None
    verifier: TokenVerifier | None = None
    required_scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.token is None) == (self.verifier is None):
            raise ValueError("ConsoleAuth needs exactly one of token= or verifier=")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("a console token must be at least 16 characters long")

    async def principal(self, token: str) -> str | None:
        """Who ``token`` belongs to, or None if it is not valid."""
        if self.token is not None:
            return "token holder" if hmac.compare_digest(token.encode(), self.token.encode()) else None
        assert self.verifier is not None
        access = await self.verifier.verify_token(token)
        if access is None or not set(self.required_scopes) <= set(access.scopes):
            return None
        return access.client_id or "token holder"


def presented_token(request: Request) -> str | None:
    """The bearer token of the request (header first, then the login cookie)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(AUTH_COOKIE) or None


def local_user() -> str:
    """The actor of requests on an unauthenticated loopback console."""
    try:
        return f"local:{getpass.getuser()}"
    except Exception:  # no user name in this environment (containers without a passwd entry)
        return "local"


def local_host_header(request: Request) -> bool:
    """Whether the ``Host`` header names this machine (refuses DNS-rebinding pages on loopback)."""
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in _LOOPBACK_NAMES


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (the cookie's, or a new one the response must set)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        return existing
    token: str = request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(32))
    return token


def csrf_ok(request: Request, submitted: object) -> bool:
    """Whether a POST carries this browser's CSRF token and no foreign ``Origin``."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        return False
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def secure_headers(request: Request, response: Response, root: str) -> Response:
    """Add the security headers, and the CSRF cookie when this request made a new token."""
    response.headers.setdefault("content-security-policy", CSP)
    response.headers.setdefault("x-content-type-options", "nosniff")
    response.headers.setdefault("referrer-policy", "no-referrer")
    response.headers.setdefault("x-frame-options", "DENY")
    response.headers.setdefault("cache-control", "no-store")
    new = request.state.__dict__.get("new_csrf")
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            new,
            path=root or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response
