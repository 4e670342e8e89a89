"""Create ``bench/.peer-venv`` with the peer, edda-framework 0.16.2 from PyPI, in its own venv.

The peer gets a venv of its own so its dependencies (uvloop, cloudevents, its pins of SQLAlchemy and
asyncpg, ...) can never disturb the project's ``.venv``. Idempotent: does nothing when the venv already
holds the right version. ``run_all.py`` calls :func:`ensure_peer_venv` on its own.

Usage::

    .venv/bin/python bench/peer_setup.py [--force]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

PEER_REQUIREMENT = "edda-framework[postgresql]==0.16.2"
PEER_VERSION = "0.16.2"
PEER_VENV = Path(__file__).resolve().parent / ".peer-venv"
SETUP_TIMEOUT_S = 600


def peer_python() -> Path:
    """Path of the peer venv's interpreter."""
    return PEER_VENV / "bin" / "python"


def installed_peer_version() -> str | None:
    """Return the edda-framework version installed in the peer venv, or ``None``."""
    if not peer_python().exists():
        return None
    proc = subprocess.run(
        [str(peer_python()), "-c", "import importlib.metadata as m; print(m.version('edda-framework'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_peer_venv(force: bool = False, quiet: bool = False) -> Path:
    """Make sure ``bench/.peer-venv`` exists with edda-framework 0.16.2 and return its interpreter.

    Raises:
        RuntimeError: If the venv cannot be created or the package cannot be installed.
    """
    if not force and installed_peer_version() == PEER_VERSION:
        return peer_python()
    if PEER_VENV.exists():
        shutil.rmtree(PEER_VENV)
    out = subprocess.DEVNULL if quiet else None
    print(f"creating {PEER_VENV} and installing {PEER_REQUIREMENT} ...", file=sys.stderr, flush=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=SETUP_TIMEOUT_S, stdout=out
        )
        subprocess.run(
            [
                str(peer_python()),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                PEER_REQUIREMENT,
            ],
            check=True,
            timeout=SETUP_TIMEOUT_S,
            stdout=out,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"could not set up the peer venv {PEER_VENV}: {exc}") from exc
    version = installed_peer_version()
    if version != PEER_VERSION:
        raise RuntimeError(f"peer venv holds edda-framework {version!r}, expected {PEER_VERSION}")
    return peer_python()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--force", action="store_true", help="recreate the venv even if it looks fine")
    args = parser.parse_args(argv)
    try:
        python = ensure_peer_venv(force=args.force)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"peer ready: {python} (edda-framework {PEER_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
