"""Serving over stdio: stdout carries only protocol messages; logs and stray prints go to stderr."""

from __future__ import annotations

import logging
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer


def logs_to_stderr(level: int = logging.INFO) -> None:
    """Send log records to stderr (never stdout, which is the protocol channel)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is sys.stdout:
            root.removeHandler(handler)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def run_stdio(mcp: MCPServer[Any]) -> None:
    """Run ``mcp`` on stdin/stdout until stdin closes.

    While it serves, the SDK points file descriptor 1 at stderr and keeps a private descriptor for
    the protocol, so ``print()`` in tools, activities or child processes cannot corrupt the stream.
    """
    logs_to_stderr()
    sys.stdout.flush()
    mcp.run("stdio")
