"""The banner ``edda-mcp serve --transport http`` prints to stderr: URL, database, tools, auth.

The exposure warning for a non-loopback bind without auth follows it (``EddaMCPServer.run`` prints it).
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import TextIO

from edda_mcp.http import is_loopback
from edda_mcp.server import EddaMCPServer

__all__ = ["mask_password", "write_banner"]

_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")
#: tools listed by name before the banner only counts the rest
_LISTED_TOOLS = 12


def mask_password(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``."""
    return _PASSWORD.sub(r"\1:***@", url)


def write_banner(out: TextIO, server: EddaMCPServer, *, host: str, port: int, auth: bool) -> None:
    """Print the serve banner of ``server`` bound to ``host:port`` to ``out``."""
    shown_host = f"[{host}]" if ":" in host else host
    names = _tool_names(server)
    listed = ", ".join(names[:_LISTED_TOOLS]) + (
        f", ... (+{len(names) - _LISTED_TOOLS})" if len(names) > _LISTED_TOOLS else ""
    )
    exposure = "loopback only" if is_loopback(host) else "reachable from other machines"
    lines = [
        f"edda-mcp: serving {server.name!r} at http://{shown_host}:{port}/mcp ({exposure})",
        f"  database: {mask_password(server.db_url)}",
        f"  tools ({len(names)}): {listed or '-'}",
        f"  auth: {'on (bearer tokens required)' if auth else 'off'}",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def _tool_names(server: EddaMCPServer) -> list[str]:
    """The names ``tools/list`` answers with, sorted (callable with or without a running event loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:  # asyncio.run in a thread of its own: safe either way
        tools = pool.submit(asyncio.run, server.mcp.list_tools()).result()
    return sorted(tool.name for tool in tools)
