"""``edda-mcp ui``: serve the operations console for a database."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, TextIO

from edda_mcp.console.security import ConsoleAuth
from edda_mcp.http import is_loopback
from edda_mcp.remote import RemoteConfigError, load_token_verifier
from edda_mcp.server import DB_URL_ENV

__all__ = ["TOKEN_ENV", "add_parser", "run"]

TOKEN_ENV = "EDDA_CONSOLE_TOKEN"


def add_parser(sub: Any) -> None:
    """Add the ``ui`` subcommand to the ``edda-mcp`` parser's subparsers."""
    ui = sub.add_parser("ui", help="serve the operations console (web pages) for a database")
    ui.add_argument("--db", default=os.environ.get(DB_URL_ENV), help=f"database URL (default: ${DB_URL_ENV})")
    ui.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    ui.add_argument("--port", type=int, default=8233)
    ui.add_argument("--read-only", action="store_true", help="hide and refuse every action")
    ui.add_argument("--token", help=f"bearer token the browser must present (or ${TOKEN_ENV})")
    ui.add_argument("--token-verifier", metavar="MODULE:ATTR", help="TokenVerifier checking bearer tokens")
    ui.add_argument(
        "--insecure", action="store_true", help="serve a non-loopback address without authentication"
    )


def _auth(args: argparse.Namespace) -> ConsoleAuth | None:
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token and args.token_verifier:
        raise RemoteConfigError("give --token or --token-verifier, not both")
    if args.token_verifier:
        return ConsoleAuth(verifier=load_token_verifier(args.token_verifier))
    if token:
        try:
            return ConsoleAuth(token=token)
        except ValueError as exc:
            raise RemoteConfigError(f"--token: {exc}") from None
    return None


async def _check(db_url: str) -> None:
    """Open the database once, so a wrong URL is reported before the server starts."""
    from edda_mcp.console.app import open_database

    app = open_database(db_url)
    await app.initialize()
    await app.shutdown()


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Serve the console until interrupted; 2 for a refused configuration."""
    import uvicorn

    try:
        from edda_mcp.console.app import console_app
    except ImportError as exc:  # jinja2 comes with the console extra
        sys.stderr.write(
            f"edda-mcp ui: error: {exc}; install the console extra: pip install 'edda-mcp[console]'\n"
        )
        return 2
    if not args.db:
        sys.stderr.write(f"edda-mcp ui: error: give --db URL (or set ${DB_URL_ENV})\n")
        return 2
    auth = _auth(args)
    if not is_loopback(args.host) and auth is None:
        if not args.insecure:
            sys.stderr.write(
                f"edda-mcp ui: error: refusing to serve {args.host} without authentication: pass --token "
                f"(or ${TOKEN_ENV}) or --token-verifier, bind to 127.0.0.1, or pass --insecure\n"
            )
            return 2
        sys.stderr.write(
            f"edda-mcp ui: warning: serving {args.host} WITHOUT authentication (--insecure): anyone who "
            "can reach this port can read payloads and cancel workflows\n"
        )
    asyncio.run(_check(args.db))
    app = console_app(args.db, read_only=args.read_only, auth=auth, any_host=args.insecure)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    out.write(
        f"Edda console on http://{shown}:{args.port}/  (read-only: {'yes' if args.read_only else 'no'}, "
        f"auth: {'on' if auth else 'off'})\n"
    )
    out.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=2)
    return 0
