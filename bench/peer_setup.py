"""Create the peers' venvs from PyPI, one venv per peer: edda-framework 0.16.2 and DBOS Transact 3.4.0.

* ``bench/.peer-venv``: ``edda-framework[postgresql]==0.16.2`` (the seed this project grew from);
* ``bench/.peer-venv-dbos``: ``dbos==3.4.0`` (DBOS Transact, a durable-execution library that also runs
  inside the application's process, on a SQLite or PostgreSQL system database).

Each peer gets a venv of its own so its dependencies (uvloop, cloudevents, psycopg, its pins of
SQLAlchemy, ...) can never disturb the project's ``.venv`` or each other. Idempotent: does nothing when
the venv already holds the right version. ``run_all.py`` calls :func:`ensure_peer_venv` on its own.

Usage::

    .venv/bin/python bench/peer_setup.py [--peer edda|dbos|all] [--force]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SETUP_TIMEOUT_S = 600


@dataclass(frozen=True)
class Peer:
    """A peer engine installed from PyPI into a venv of its own."""

    name: str
    distribution: str
    version: str
    requirement: str
    venv: Path

    def python(self) -> Path:
        """Path of the venv's interpreter."""
        return self.venv / "bin" / "python"


PEERS: dict[str, Peer] = {
    "edda": Peer(
        "edda", "edda-framework", "0.16.2", "edda-framework[postgresql]==0.16.2", BENCH_DIR / ".peer-venv"
    ),
    "dbos": Peer("dbos", "dbos", "3.4.0", "dbos==3.4.0", BENCH_DIR / ".peer-venv-dbos"),
}
# edda-framework, kept under the names other scripts import (mcp_peer_setup.py)
PEER_REQUIREMENT = PEERS["edda"].requirement
PEER_VERSION = PEERS["edda"].version
PEER_VENV = PEERS["edda"].venv


def peer_python(peer: str = "edda") -> Path:
    """Path of a peer venv's interpreter."""
    return PEERS[peer].python()


def installed_peer_version(peer: str = "edda") -> str | None:
    """Return the peer's version installed in its venv, or ``None``."""
    spec = PEERS[peer]
    if not spec.python().exists():
        return None
    proc = subprocess.run(
        [
            str(spec.python()),
            "-c",
            f"import importlib.metadata as m; print(m.version({spec.distribution!r}))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_peer_venv(force: bool = False, quiet: bool = False, peer: str = "edda") -> Path:
    """Make sure the peer's venv exists with the pinned version and return its interpreter.

    Raises:
        RuntimeError: If the venv cannot be created or the package cannot be installed.
    """
    spec = PEERS[peer]
    if not force and installed_peer_version(peer) == spec.version:
        return spec.python()
    if spec.venv.exists():
        shutil.rmtree(spec.venv)
    out = subprocess.DEVNULL if quiet else None
    print(f"creating {spec.venv} and installing {spec.requirement} ...", file=sys.stderr, flush=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(spec.venv)], check=True, timeout=SETUP_TIMEOUT_S, stdout=out
        )
        subprocess.run(
            [
                str(spec.python()),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                spec.requirement,
            ],
            check=True,
            timeout=SETUP_TIMEOUT_S,
            stdout=out,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"could not set up the peer venv {spec.venv}: {exc}") from exc
    version = installed_peer_version(peer)
    if version != spec.version:
        raise RuntimeError(f"peer venv holds {spec.distribution} {version!r}, expected {spec.version}")
    return spec.python()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--peer", choices=[*PEERS, "all"], default="all", help="which peer venv (default all)"
    )
    parser.add_argument("--force", action="store_true", help="recreate the venv even if it looks fine")
    args = parser.parse_args(argv)
    for name in PEERS if args.peer == "all" else [args.peer]:
        try:
            python = ensure_peer_venv(force=args.force, peer=name)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"peer ready: {python} ({PEERS[name].distribution} {PEERS[name].version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
