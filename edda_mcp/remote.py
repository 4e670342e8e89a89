"""What a remote HTTP deployment configures from the command line: auth, allowed hosts/origins, limits.

``edda-mcp serve --transport http`` turns its flags into a :class:`RemoteOptions`; :func:`auth_for`
builds the token verifier and the SDK's ``AuthSettings`` from it (bearer tokens checked by a verifier
named by an import path, or JWT access tokens checked against an issuer's JWKS with the server's public
URL as audience), and :func:`exposure_warning` says when a bind is reachable from other machines
without any authentication.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl, ValidationError

from edda_mcp.errors import HttpConfigError
from edda_mcp.http import is_loopback
from edda_mcp.jwt_auth import JwtSettings, JwtVerifier
from edda_mcp.loader import import_target_module, split_target


class RemoteConfigError(HttpConfigError):
    """Command-line options of a remote deployment that do not fit together (the message says why)."""


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    """The remote-deployment flags of ``edda-mcp serve``.

    Attributes:
        public_url: canonical URL of the MCP endpoint (audience of tokens, protected-resource metadata).
        token_verifier: ``module:attribute`` of a ``TokenVerifier`` (or of a class/factory making one).
        jwt_issuer: issuer whose JWT access tokens are accepted (with ``jwks_url``).
        jwks_url: where that issuer publishes its signing keys.
        authorization_server: issuer URL advertised in the metadata (default: ``jwt_issuer``).
        required_scopes: scopes every token must carry.
        allowed_hosts: accepted ``Host`` headers (None: loopback and the public URL's host).
        allowed_origins: accepted ``Origin`` headers (None: loopback and the public URL's origin).
        max_body_bytes: larger request bodies get 413.
        allow_unauthenticated_events: serve ``/events`` without auth.
    """

    public_url: str | None = None
    token_verifier: str | None = None
    jwt_issuer: str | None = None
    jwks_url: str | None = None
    authorization_server: str | None = None
    required_scopes: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None
    allowed_origins: tuple[str, ...] | None = None
    max_body_bytes: int = 1024 * 1024
    allow_unauthenticated_events: bool = False

    @property
    def wants_auth(self) -> bool:
        """Whether any authentication option was given."""
        return self.token_verifier is not None or self.jwt_issuer is not None


def auth_for(options: RemoteOptions) -> tuple[TokenVerifier, AuthSettings] | None:
    """The verifier and resource-server settings the options ask for (None: no auth options).

    Raises:
        RemoteConfigError: options that do not fit together, or a verifier path that names nothing usable.
    """
    if not options.wants_auth:
        if options.jwks_url or options.authorization_server or options.required_scopes:
            raise RemoteConfigError(
                "--jwks-url, --authorization-server and --required-scope need --jwt-issuer or --token-verifier"
            )
        return None
    if options.token_verifier is not None and options.jwt_issuer is not None:
        raise RemoteConfigError("pass either --token-verifier or --jwt-issuer, not both")
    if options.public_url is None:
        raise RemoteConfigError(
            "auth needs --public-url, the URL clients use for the MCP endpoint (e.g. https://mcp.example.com/mcp): "
            "it is the audience tokens must name and the resource in the protected-resource metadata"
        )
    verifier: TokenVerifier
    if options.jwt_issuer is not None:
        if options.jwks_url is None:
            raise RemoteConfigError("--jwt-issuer needs --jwks-url (where the issuer publishes its keys)")
        verifier = JwtVerifier(
            JwtSettings(issuer=options.jwt_issuer, jwks_url=options.jwks_url, audience=options.public_url)
        )
    else:
        assert options.token_verifier is not None
        verifier = load_token_verifier(options.token_verifier)
    issuer = options.authorization_server or options.jwt_issuer
    if issuer is None:
        raise RemoteConfigError(
            "--token-verifier needs --authorization-server (the issuer clients get tokens from)"
        )
    try:
        settings = AuthSettings(
            issuer_url=AnyHttpUrl(issuer),
            resource_server_url=AnyHttpUrl(options.public_url),
            required_scopes=list(options.required_scopes) or None,
            validate_token_resource=True,
        )
    except ValidationError as exc:
        raise RemoteConfigError(
            f"invalid auth URL: {exc.errors()[0]['msg']} in {exc.errors()[0]['input']!r}"
        ) from None
    return verifier, settings


def load_token_verifier(path: str) -> TokenVerifier:
    """The ``TokenVerifier`` named by ``module:attribute`` (an instance, or a class/factory called once)."""
    module_name, attr = split_target(path)
    if attr is None:
        raise RemoteConfigError(f"--token-verifier {path!r} must be module:attribute")
    module = import_target_module(module_name)
    found: Any = getattr(module, attr, None)
    if found is None:
        raise RemoteConfigError(f"--token-verifier: module {module_name!r} has no attribute {attr!r}")
    is_verifier_class = isinstance(found, type) and callable(getattr(found, "verify_token", None))
    is_factory = not isinstance(found, type) and callable(found) and not hasattr(found, "verify_token")
    if is_verifier_class or is_factory:
        try:
            found = found()  # a class or a factory: make the verifier
        except Exception as exc:
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise RemoteConfigError(f"--token-verifier {path!r}: calling it failed: {first_line}") from exc
    if not callable(getattr(found, "verify_token", None)):
        raise RemoteConfigError(
            f"--token-verifier {path!r} is a {type(found).__name__}, not a TokenVerifier "
            "(an object with async verify_token(token) -> AccessToken | None)"
        )
    verifier: TokenVerifier = found
    return verifier


def exposure_warning(host: str, has_auth: bool) -> str | None:
    """A warning when ``host`` is reachable from other machines and no token is required."""
    if has_auth or is_loopback(host):
        return None
    return (
        f"edda-mcp: warning: serving on {host} without authentication: anyone who can reach this port can "
        "start, read and cancel workflows. Configure --jwt-issuer/--jwks-url or --token-verifier (with "
        "--public-url), or bind to 127.0.0.1 behind an authenticating proxy.\n"
    )
