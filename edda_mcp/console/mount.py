"""The console as routes of another Starlette app (``EddaMCPServer.asgi_app(console=True)``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from starlette.routing import BaseRoute, Mount

from durable_core import EddaApp, Workflow
from edda_mcp.console.security import ConsoleAuth

__all__ = ["console_routes"]


def console_routes(
    app: EddaApp,
    workflows: Iterable[Workflow[Any, Any]],
    verifier: TokenVerifier | None,
    settings: AuthSettings | None,
) -> list[BaseRoute]:
    """``/console`` serving a console for ``app``, behind ``verifier`` (with its required scopes) if any."""
    from edda_mcp.console.app import console_app  # Jinja2 comes with the console extra

    scopes = tuple(settings.required_scopes or ()) if settings is not None else ()
    auth = ConsoleAuth(verifier=verifier, required_scopes=scopes) if verifier is not None else None
    return [Mount("/console", console_app(app, auth=auth, workflows=workflows))]
