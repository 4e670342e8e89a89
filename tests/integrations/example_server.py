"""Stdio parameters that serve one of the examples' MCP servers with ``edda-mcp serve`` (integration e2e tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import StdioServerParameters

REPO_ROOT = Path(__file__).resolve().parents[2]


def example_server(example: str, db_url: str, workdir: Path) -> StdioServerParameters:
    """Serve ``examples/<example>:server`` on ``db_url`` from ``workdir`` (warnings are errors)."""
    target = str(REPO_ROOT / "examples" / example) + ":server"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONWARNINGS": "error"}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "edda_mcp", "serve", target, "--db", db_url],
        env=env,
        cwd=str(workdir),
    )
