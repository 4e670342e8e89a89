"""The ``edda-mcp`` command line: serve, install claude-desktop, instances, replay, migrate."""

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

from durable_core import EddaError, InstanceStatus, OutcomeAnswer
from edda_mcp import admin, cli_control
from edda_mcp.claude_desktop import default_config_path, install
from edda_mcp.loader import load_server
from edda_mcp.remote import RemoteConfigError, RemoteOptions, auth_for
from edda_mcp.server import DB_URL_ENV
from edda_mcp.stdio import logs_to_stderr


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``edda-mcp``."""
    parser = argparse.ArgumentParser(prog="edda-mcp", description="Serve and operate Edda MCP servers.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve module:server over stdio or streamable HTTP")
    serve.add_argument("target", help="module:server or path/to/file.py:server")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--db", help="database URL (overrides the server's db_url)")
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

    instances = sub.add_parser("instances", help="list, show, cancel, resume or resolve stored instances")
    isub = instances.add_subparsers(dest="action", required=True)
    for action in ("list", "show", "cancel", "resume", "resolve"):
        p = isub.add_parser(action)
        p.add_argument("--db", required=True, help="database URL")
        if action == "list":
            p.add_argument("--status", choices=[s.value for s in InstanceStatus])
            p.add_argument("--workflow")
            p.add_argument("--limit", type=int, default=50)
        else:
            p.add_argument("instance_id")
        if action == "cancel":
            p.add_argument("--reason", default="cancelled from the command line")
        if action == "resolve":
            _add_resolve_arguments(p)
    cli_control.add_control_commands(isub)  # retry, fork, pause, unpause, terminate, control-log

    replay = sub.add_parser("replay", help="replay stored histories against module:server's current code")
    replay.add_argument("target")
    replay.add_argument("--db", help="database URL (default: the server's)")
    replay.add_argument("--workflow")
    replay.add_argument("--limit", type=int, default=1000)

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.add_argument("--db", required=True, help="database URL")
    return parser


def _add_resolve_arguments(resolve: argparse.ArgumentParser) -> None:
    resolve.description = "Answer an outcome_unknown instance: did its interrupted at-most-once step happen?"
    said = resolve.add_mutually_exclusive_group(required=True)
    said.add_argument("--happened", action="store_true", help="it took effect: record --result")
    said.add_argument("--did-not-happen", action="store_true", help="it had no effect: run it again")
    resolve.add_argument("--result", type=json_argument, default=None, help="the step's result, as JSON")
    resolve.add_argument("--by", default="edda-mcp cli", help="who answers (kept with the answer)")


def json_argument(text: str) -> Any:
    """Parse a JSON command-line value (argparse turns the ValueError into a usage error)."""
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not valid JSON: {text!r}") from None


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
        return _instances(args, out)
    if args.command == "replay":
        server = load_server(args.target)
        reports = asyncio.run(
            admin.replay_check(args.db or server.db_url, out, workflow=args.workflow, limit=args.limit)
        )
        return 0 if all(r.ok for r in reports) else 1
    asyncio.run(admin.migrate(args.db, out))
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.db:
        os.environ[DB_URL_ENV] = args.db
    remote = _remote_options(args)
    if args.transport == "stdio":
        if remote != RemoteOptions() or args.stateful_sessions:
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


def _instances(args: argparse.Namespace, out: TextIO) -> int:
    if getattr(args, "control", None) is not None:
        return int(args.control(args, out))
    if args.action == "list":
        asyncio.run(
            admin.list_instances(args.db, out, status=args.status, workflow=args.workflow, limit=args.limit)
        )
    elif args.action == "show":
        asyncio.run(admin.show_instance(args.db, args.instance_id, out))
    elif args.action == "cancel":
        asyncio.run(admin.cancel_instance(args.db, args.instance_id, args.reason, out))
    elif args.action == "resolve":
        answer = OutcomeAnswer(bool(args.happened), args.result, args.by)
        asyncio.run(admin.resolve_instance(args.db, args.instance_id, answer, out))
    else:
        asyncio.run(admin.resume_instance(args.db, args.instance_id, out))
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
