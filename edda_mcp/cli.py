"""The ``edda-mcp`` command line: serve, install claude-desktop, instances, replay, migrate.

Subcommand groups live in their own modules (``cli_instances``, ...) and register here with one line;
they share :mod:`edda_mcp.cli_support` (``--db`` / ``$EDDA_MCP_DB_URL``, opening without creating,
tables and JSON output).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from durable_core import EddaError
from edda_mcp import __version__, admin, cli_control, cli_evolution, cli_queues, cli_schedules
from edda_mcp.claude_desktop import default_config_path, install
from edda_mcp.cli_instances import add_instances_parser, run_instances
from edda_mcp.cli_support import add_db_argument, db_url
from edda_mcp.console import cli as console_cli
from edda_mcp.http import HttpOptions
from edda_mcp.loader import load_server
from edda_mcp.remote import RemoteConfigError, RemoteOptions, auth_for
from edda_mcp.serve_banner import write_banner
from edda_mcp.server import DB_URL_ENV
from edda_mcp.stdio import logs_to_stderr


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``edda-mcp``."""
    parser = argparse.ArgumentParser(prog="edda-mcp", description="Serve and operate Edda MCP servers.")
    parser.add_argument("--version", action="version", version=f"edda-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve module:server over stdio or streamable HTTP")
    serve.add_argument("target", help="module:server or path/to/file.py:server")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--db", help=f"database URL (default: ${DB_URL_ENV}, else the server's db_url)")
    _add_remote_arguments(serve)

    inst = sub.add_parser("install", help="register a server with an MCP host")
    inst_sub = inst.add_subparsers(dest="host_app", required=True)
    claude = inst_sub.add_parser("claude-desktop", help="merge into claude_desktop_config.json")
    claude.add_argument("target", help="module:server or path/to/file.py:server")
    claude.add_argument("--name", help="entry name (default: the server's name)")
    claude.add_argument("--db", help="database URL or SQLite file (made absolute)")
    claude.add_argument(
        "--config", type=Path, help="config file (default: Claude Desktop's; env EDDA_MCP_CLAUDE_CONFIG)"
    )

    instances = add_instances_parser(sub)
    cli_evolution.add_export_command(_subcommands(instances))
    cli_control.add_control_commands(
        _subcommands(instances)
    )  # retry, fork, pause, unpause, terminate, control-log

    cli_evolution.add_replay_command(sub)

    cli_schedules.add_parser(sub)
    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    add_db_argument(migrate)
    cli_queues.add_parser(sub)
    console_cli.add_parser(sub)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    """The sub-command action of ``parser``, so other modules can add commands to it."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _add_remote_arguments(serve: argparse.ArgumentParser) -> None:
    remote = serve.add_argument_group("remote HTTP deployment (--transport http)")
    remote.add_argument(
        "--public-url", help="URL clients use for the MCP endpoint (token audience, metadata)"
    )
    remote.add_argument(
        "--token-verifier", metavar="MODULE:ATTR", help="TokenVerifier checking bearer tokens"
    )
    remote.add_argument("--jwt-issuer", metavar="URL", help="accept JWT access tokens of this issuer")
    remote.add_argument("--jwks-url", metavar="URL", help="the issuer's JSON Web Key Set")
    remote.add_argument(
        "--authorization-server", metavar="URL", help="issuer in the protected-resource metadata"
    )
    remote.add_argument("--required-scope", action="append", default=[], help="scope every token needs")
    remote.add_argument("--allowed-host", action="append", help="accepted Host header (repeatable)")
    remote.add_argument("--allowed-origin", action="append", help="accepted Origin header (repeatable)")
    remote.add_argument("--max-body-bytes", type=int, default=1024 * 1024, help="larger requests get 413")
    remote.add_argument(
        "--stateful-sessions",
        action="store_true",
        help="a session per handshake-era client (elicitation over HTTP; needs sticky routing)",
    )
    remote.add_argument(
        "--allow-unauthenticated-events",
        action="store_true",
        help="serve /events and /events/cancel/{id} without auth",
    )
    remote.add_argument(
        "--allow-unauthenticated-metrics",
        action="store_true",
        help="serve /metrics without auth on a non-loopback --host",
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (2 for usage errors, 1 for failures)."""
    stream = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args, stream)
    except EddaError as exc:
        sys.stderr.write(f"edda-mcp: error: {exc}\n")
        return 1


def _dispatch(args: argparse.Namespace, out: TextIO) -> int:
    if (code := cli_evolution.run(args, out)) is not None:  # replay, instances export
        return code
    if args.command == "ui":
        return console_cli.run(args, out)
    if args.command == "serve":
        return _serve(args)
    if args.command == "install":
        server = load_server(args.target)
        result = install(
            args.target,
            name=args.name or server.name,
            config_path=args.config or default_config_path(),
            db=args.db,
        )
        out.write(f"wrote server {result.name!r} to {result.config_path}:\n")
        out.write(json.dumps({result.name: result.entry}, indent=2) + "\n")
        out.write("restart Claude Desktop to pick it up\n")
        return 0
    if args.command == "instances":
        if getattr(args, "control", None) is not None:  # retry, fork, pause, unpause, terminate, control-log
            return int(args.control(args, out))
        return run_instances(args, out)
    if args.command == "schedules":
        return cli_schedules.run(args, out)
    if args.command == "queues":
        return cli_queues.run(args, out)
    asyncio.run(admin.migrate(db_url(args), out))
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.db:
        os.environ[DB_URL_ENV] = args.db
    remote = _remote_options(args)
    if args.transport == "stdio":
        if remote != RemoteOptions() or args.stateful_sessions or args.allow_unauthenticated_metrics:
            raise RemoteConfigError("the remote deployment options apply to --transport http only")
        logs_to_stderr()
        with contextlib.redirect_stdout(sys.stderr):  # prints while importing must not hit the protocol
            server = load_server(args.target)
        server.run("stdio")
        return 0
    auth = auth_for(remote)
    server = load_server(args.target)
    if auth is not None:
        server.use_auth(*auth)
    # the options asgi_app() refuses are refused before the banner says it is serving
    HttpOptions(host=args.host, public_url=remote.public_url, max_request_body_size=remote.max_body_bytes)
    write_banner(sys.stderr, server, host=args.host, port=args.port, auth=auth is not None)
    server.run(
        "http",
        host=args.host,
        port=args.port,
        allowed_hosts=remote.allowed_hosts,
        allowed_origins=remote.allowed_origins,
        max_request_body_size=remote.max_body_bytes,
        allow_unauthenticated_events=remote.allow_unauthenticated_events,
        public_url=remote.public_url,
        stateful_sessions=args.stateful_sessions,
        allow_unauthenticated_metrics=args.allow_unauthenticated_metrics,
    )
    return 0


def _remote_options(args: argparse.Namespace) -> RemoteOptions:
    if args.max_body_bytes <= 0:
        raise RemoteConfigError(
            f"--max-body-bytes must be a positive number of bytes, got {args.max_body_bytes}"
        )
    return RemoteOptions(
        public_url=args.public_url,
        token_verifier=args.token_verifier,
        jwt_issuer=args.jwt_issuer,
        jwks_url=args.jwks_url,
        authorization_server=args.authorization_server,
        required_scopes=tuple(args.required_scope),
        allowed_hosts=tuple(args.allowed_host) if args.allowed_host else None,
        allowed_origins=tuple(args.allowed_origin) if args.allowed_origin else None,
        max_body_bytes=args.max_body_bytes,
        allow_unauthenticated_events=args.allow_unauthenticated_events,
    )


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
