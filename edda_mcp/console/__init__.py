"""The operations console: server-rendered pages over the engine's public query API.

``console_app(app_or_db_url, ...)`` is a Starlette ASGI app; ``edda-mcp ui --db URL`` serves it and
``EddaMCPServer.asgi_app(console=True)`` mounts it under ``/console``. See docs/console.md.
"""

from edda_mcp.console.app import console_app
from edda_mcp.console.payloads import Redaction
from edda_mcp.console.security import ConsoleAuth

__all__ = ["ConsoleAuth", "Redaction", "console_app"]
