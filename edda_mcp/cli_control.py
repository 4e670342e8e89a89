"""``edda-mcp instances retry|fork|pause|unpause|terminate|control-log``: run control from the shell.

Each command opens the database as a client (it never runs instances), calls the engine's public
run-control API and prints one line: ``<instance_id>: <outcome>`` (a fork prints the new id). The
servers running the instances pick the change up (at once on PostgreSQL, else at their next poll).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any, TextIO

from durable_core import ControlOutcome, EddaApp

__all__ = ["add_control_commands", "run_control_command"]

DEFAULT_BY = "edda-mcp cli"
_HELP = {
    "retry": "run a failed instance again from its failed step (fresh attempt budget)",
    "fork": "copy an instance's history before --at into a new instance that runs from there",
    "pause": "pause an instance at its next step boundary",
    "unpause": "let a paused instance continue",
    "terminate": "end an unfinished instance as failed at once, without compensations",
    "control-log": "the run-control actions applied to an instance (JSON lines)",
}


def _position_or_name(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def add_control_commands(instances: Any) -> None:
    """Add the run-control subcommands to the ``instances`` subparsers (``add_subparsers()`` result)."""
    for action, help_text in _HELP.items():
        p: argparse.ArgumentParser = instances.add_parser(action, help=help_text, description=help_text)
        p.add_argument("--db", required=True, help="database URL")
        p.add_argument("instance_id")
        if action != "control-log":
            p.add_argument("--by", default=DEFAULT_BY, help="who does it (journaled)")
            p.add_argument("--reason", default="", help="why (journaled)")
        if action == "fork":
            p.add_argument("--at", required=True, type=_position_or_name, help="position (int) or step name")
            p.add_argument("--new-id", default=None, help="the fork's instance id (makes a repeat a no-op)")
        p.set_defaults(control=run_control_command)


def run_control_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run one parsed run-control command; returns the exit code."""
    asyncio.run(_run(args, out))
    return 0


async def _run(args: argparse.Namespace, out: TextIO) -> None:
    async with EddaApp(args.db, service_name="edda-mcp-cli", run_workers=False) as app:
        iid = args.instance_id
        if args.action == "control-log":
            for entry in await app.control_log(iid, limit=1000):
                line = {
                    "seq": entry.seq,
                    "action": entry.action.value,
                    "by": entry.by,
                    "reason": entry.reason,
                    "at": entry.at.isoformat(),
                    "detail": entry.detail,
                }
                out.write(json.dumps(line, sort_keys=True) + "\n")
            return
        if args.action == "fork":
            new_id = await app.fork(iid, args.at, new_instance_id=args.new_id, by=args.by, reason=args.reason)
            out.write(f"{new_id}: forked from {iid} at {args.at}\n")
            return
        outcome: ControlOutcome
        if args.action == "retry":
            outcome = await app.retry(iid, by=args.by, reason=args.reason)
        elif args.action == "pause":
            outcome = await app.pause(iid, by=args.by, reason=args.reason)
        elif args.action == "unpause":
            outcome = await app.unpause(iid, by=args.by, reason=args.reason)
        else:
            outcome = await app.terminate(iid, args.reason, by=args.by)
        status = (await app.get_instance(iid)).status.value
        out.write(f"{iid}: {args.action} {outcome.value}; status {status}\n")
