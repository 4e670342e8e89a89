"""Make sure ``bench/.peer-venv`` also holds edda-framework 0.16.2's ``mcp`` extra.

``peer_setup.py`` creates the peer venv with ``edda-framework[postgresql]==0.16.2``; the MCP benchmark
additionally needs ``edda-framework[mcp]`` (the MCP SDK, starlette, uvicorn). This adds it, from PyPI
through pip, when ``edda.integrations.mcp`` cannot be imported there. Idempotent.

Usage::

    .venv/bin/python bench/mcp_peer_setup.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from peer_setup import PEER_VERSION, ensure_peer_venv

MCP_REQUIREMENT = f"edda-framework[mcp,postgresql]=={PEER_VERSION}"
SETUP_TIMEOUT_S = 600


def peer_has_mcp(python: Path) -> bool:
    """Whether the peer venv can import edda-framework's MCP integration."""
    proc = subprocess.run(
        [str(python), "-c", "import edda.integrations.mcp"], capture_output=True, timeout=120, check=False
    )
    return proc.returncode == 0


def ensure_peer_mcp() -> Path:
    """Return the peer venv's interpreter once it has edda-framework 0.16.2 with the ``mcp`` extra.

    Raises:
        RuntimeError: If the venv or the extra cannot be installed.
    """
    python = ensure_peer_venv(quiet=True)
    if peer_has_mcp(python):
        return python
    print(f"installing {MCP_REQUIREMENT} into the peer venv ...", file=sys.stderr, flush=True)
    try:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", MCP_REQUIREMENT],
            check=True,
            timeout=SETUP_TIMEOUT_S,
            stdout=subprocess.DEVNULL,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"could not install {MCP_REQUIREMENT} into the peer venv: {exc}") from exc
    if not peer_has_mcp(python):
        raise RuntimeError("edda.integrations.mcp still not importable in the peer venv")
    return python


def main() -> int:
    """Command-line entry point."""
    try:
        python = ensure_peer_mcp()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"peer MCP ready: {python} ({MCP_REQUIREMENT})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
