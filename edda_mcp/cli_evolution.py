"""``edda-mcp replay`` (the replay check for CI) and ``edda-mcp instances export`` (golden histories).

``replay TARGET`` checks stored histories against the workflows of TARGET: ``module:attribute`` naming an
``EddaMCPServer`` or ``EddaApp``, or a plain module / ``.py`` file, whose module-level server or app is
used when it holds exactly one, else every ``@workflow`` defined at its top level. It opens the database
without creating or migrating it, checks instances that are not finished (``--all``: every instance),
prints one line per instance (``--json``: a JSON list) and exits 1 when any would block.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from types import ModuleType
from typing import Any, TextIO

from durable_core import EddaApp, ReplayReport, Workflow
from edda_mcp.errors import ServerLoadError
from edda_mcp.loader import import_target_module, split_target

__all__ = ["add_export_command", "add_replay_command", "load_workflows", "run"]


def add_replay_command(sub: Any) -> None:
    """Register ``replay`` on the ``edda-mcp`` subcommands."""
    replay = sub.add_parser(
        "replay", help="replay stored histories against the current code of a module (CI check)"
    )
    replay.add_argument("target", help="module, path/to/file.py, or module:server / module:app")
    replay.add_argument("--db", help="database URL (default: the server's, for a module:server target)")
    scope = replay.add_mutually_exclusive_group()
    scope.add_argument(
        "--running-only", action="store_true", help="only instances that are not finished (the default)"
    )
    scope.add_argument("--all", action="store_true", help="also completed, failed and cancelled instances")
    replay.add_argument("--workflow", help="only instances of this workflow")
    replay.add_argument("--limit", type=int, default=1000, help="check at most this many (newest first)")
    replay.add_argument("--json", action="store_true", help="print a JSON list instead of lines")
    replay.set_defaults(evolution=_replay)


def add_export_command(isub: Any) -> None:
    """Register ``instances export`` on the ``edda-mcp instances`` actions."""
    export = isub.add_parser(
        "export", help="print an instance and its history as JSON (a golden history for replay_check)"
    )
    export.add_argument("--db", required=True, help="database URL")
    export.add_argument("instance_id")
    export.set_defaults(evolution=_export)


def load_workflows(target: str) -> tuple[list[Workflow[Any, Any]], str | None]:
    """The workflows of ``target`` and the database URL it names (a server's ``db_url``), if any.

    Raises:
        ServerLoadError: the module cannot be imported, the attribute is missing or not a server, app
            or workflow, or the module holds several servers/apps (name one) or no workflow at all.
    """
    module_name, attr = split_target(target)
    module = import_target_module(module_name)
    if attr is not None:
        if not hasattr(module, attr):
            raise ServerLoadError(f"module {module_name!r} has no attribute {attr!r}")
        return _workflows_of(getattr(module, attr), f"{module_name}:{attr}")
    return _workflows_of_module(module, module_name)


def _workflows_of(found: object, where: str) -> tuple[list[Workflow[Any, Any]], str | None]:
    from edda_mcp.server import EddaMCPServer

    if isinstance(found, EddaMCPServer):
        return list(found.catalog), found.db_url
    if isinstance(found, EddaApp):
        return list(found.workflows), None
    if isinstance(found, Workflow):
        return [found], None
    raise ServerLoadError(f"{where} is a {type(found).__name__}, not an EddaMCPServer, EddaApp or workflow")


def _workflows_of_module(module: ModuleType, name: str) -> tuple[list[Workflow[Any, Any]], str | None]:
    from edda_mcp.server import EddaMCPServer

    hosts = {key: v for key, v in vars(module).items() if isinstance(v, EddaMCPServer | EddaApp)}
    if len(hosts) > 1:
        raise ServerLoadError(
            f"module {name!r} holds several servers/apps ({', '.join(sorted(hosts))}); name one as module:attribute"
        )
    if hosts:
        ((key, host),) = hosts.items()
        return _workflows_of(host, f"{name}:{key}")
    workflows = [v for v in vars(module).values() if isinstance(v, Workflow)]
    if not workflows:
        raise ServerLoadError(f"module {name!r} defines no @workflow, EddaMCPServer or EddaApp")
    return workflows, None


def _open(db_url: str, workflows: list[Workflow[Any, Any]] | None = None) -> EddaApp:
    """An app that reads the database as it is: nothing created or migrated, no workers."""
    return EddaApp(
        db_url, service_name="edda-mcp-cli", workflows=workflows or [], open_existing=True, run_workers=False
    )


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    workflows, server_db = load_workflows(args.target)
    db_url = args.db or server_db
    if not db_url:
        raise ServerLoadError("give the database with --db URL")
    reports = asyncio.run(_check(db_url, workflows, args))
    if args.json:
        out.write(json.dumps([_report_json(r) for r in reports], indent=2) + "\n")
    else:
        for r in reports:
            verdict = (
                "ok" if r.ok else f"BLOCKS at position {r.position}: expected {r.expected}, actual {r.actual}"
            )
            out.write(f"{r.instance_id}  {r.workflow_name}  {verdict}\n")
            if not r.ok:
                out.write(f"    {r.message}\n")
        failed = sum(not r.ok for r in reports)
        out.write(f"{len(reports)} instance(s) checked, {failed} would block\n")
    return 0 if all(r.ok for r in reports) else 1


async def _check(
    db_url: str, workflows: list[Workflow[Any, Any]], args: argparse.Namespace
) -> list[ReplayReport]:
    async with _open(db_url, workflows) as app:
        return await app.replay_check(
            workflow_name=args.workflow, include_finished=args.all, limit=args.limit
        )


def _report_json(report: ReplayReport) -> dict[str, Any]:
    data = asdict(report)
    data["workflow"] = data.pop("workflow_name")
    return data


def _export(args: argparse.Namespace, out: TextIO) -> int:
    async def export() -> dict[str, Any]:
        async with _open(args.db) as app:
            return await app.export_history(args.instance_id)

    out.write(json.dumps(asyncio.run(export()), indent=2) + "\n")
    return 0


def run(args: argparse.Namespace, out: TextIO) -> int | None:
    """Run the command when it is one of this module's (None otherwise)."""
    handler = getattr(args, "evolution", None)
    if handler is None:
        return None
    return int(handler(args, out))
