"""The operations console: server-rendered pages over the engine's public query API.

``console_app(app_or_db_url, ...)`` is a Starlette ASGI app; ``edda-mcp ui --db URL`` serves it and
``EddaMCPServer.asgi_app(console=True)`` mounts it under ``/console``. See docs/console.md. The pages
need the ``console`` extra (Jinja2); ``console_app`` is imported on first use so the rest of the CLI
works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edda_mcp.console.payloads import Redaction
from edda_mcp.console.security import ConsoleAuth

if TYPE_CHECKING:
    from edda_mcp.console.app import console_app

__all__ = ["ConsoleAuth", "Redaction", "console_app"]


def __getattr__(name: str) -> Any:
    if name == "console_app":
        from edda_mcp.console.app import console_app

        return console_app
    raise AttributeError(f"module 'edda_mcp.console' has no attribute {name!r}")
