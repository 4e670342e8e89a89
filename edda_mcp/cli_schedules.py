"""``edda-mcp schedules list|create|pause|resume|delete|trigger``: schedules from the command line.

The commands open the database as a client (no workers, no timer loop): changes are stored at once and
the processes that fire the schedule see them (PostgreSQL NOTIFY, elsewhere their bounded re-check).
A ``create`` made here cannot check ``--args`` against the workflow's type hints (the CLI does not
have the code); the process that starts a tick does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from datetime import timedelta
from typing import Any, TextIO

from durable_core import CatchUp, ConfigurationError, EddaApp, Overlap, ScheduleInfo
from edda_mcp.server import DB_URL_ENV

__all__ = ["add_parser", "info_json", "run"]


def add_parser(sub: Any) -> None:
    """Register ``schedules`` and its actions on the ``edda-mcp`` subparsers ``sub``."""
    schedules = sub.add_parser("schedules", help="list, create, pause, resume, delete or trigger schedules")
    ssub = schedules.add_subparsers(dest="action", required=True)
    for action in ("list", "create", "pause", "resume", "delete", "trigger"):
        p = ssub.add_parser(action)
        p.add_argument(
            "--db", default=os.environ.get(DB_URL_ENV), help=f"database URL (default: ${DB_URL_ENV})"
        )
        if action == "list":
            p.add_argument("--workflow", help="only schedules of this workflow")
            p.add_argument("--json", action="store_true", help="one JSON array with every field")
            continue
        p.add_argument("schedule_id")
        if action == "create":
            _add_create_arguments(p)


def _add_create_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("workflow", help="name of the workflow each tick starts")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='5-field cron expression, e.g. "0 3 * * *"')
    when.add_argument("--every", type=float, metavar="SECONDS", help="fixed interval in seconds (>= 1)")
    p.add_argument("--args", type=_json_object, default={}, help="keyword arguments as a JSON object")
    p.add_argument("--timezone", default="UTC", help="IANA time zone of --cron (default UTC)")
    p.add_argument("--overlap", choices=[o.value for o in Overlap], default=Overlap.SKIP.value)
    p.add_argument("--catch-up", choices=[c.value for c in CatchUp], default=CatchUp.LATEST.value)
    p.add_argument("--jitter", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--paused", action="store_true", help="create it paused")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not valid JSON: {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--args must be a JSON object, got {text!r}")
    return value


def info_json(info: ScheduleInfo) -> dict[str, Any]:
    """Every field of a schedule as JSON (what ``list --json`` prints)."""

    def iso(value: Any) -> Any:
        return None if value is None else value.isoformat()

    spec = info.spec
    return {
        "schedule_id": info.schedule_id,
        "workflow": info.workflow_name,
        "cron": spec.cron,
        "every_seconds": None if spec.every is None else spec.every.total_seconds(),
        "timezone": spec.timezone,
        "args": dict(spec.args),
        "overlap": spec.overlap.value,
        "catch_up": spec.catch_up.value,
        "jitter_seconds": spec.jitter.total_seconds(),
        "paused": info.paused,
        "declared": info.declared,
        "next_tick_at": iso(info.next_tick_at),
        "next_fire_at": iso(info.next_fire_at),
        "last_fire_at": iso(info.last_fire_at),
        "last_instance_id": info.last_instance_id,
        "buffered_tick_at": iso(info.buffered_tick_at),
        "created_at": iso(info.created_at),
        "updated_at": iso(info.updated_at),
    }


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``edda-mcp schedules <action>``; returns the exit code."""
    if not args.db:
        raise ConfigurationError(f"schedules {args.action}: give --db URL (or set {DB_URL_ENV})")
    return asyncio.run(_run(args, out))


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    async with EddaApp(args.db, service_name="edda-mcp-cli", workflows=[], run_workers=False) as app:
        schedules = app.schedules
        if args.action == "list":
            found = await schedules.list(workflow_name=args.workflow)
            _print_list(found, out, as_json=args.json)
        elif args.action == "create":
            info = await schedules.create(
                args.schedule_id,
                args.workflow,
                cron=args.cron,
                every=None if args.every is None else timedelta(seconds=args.every),
                args=args.args,
                timezone=args.timezone,
                overlap=args.overlap,
                catch_up=args.catch_up,
                jitter=timedelta(seconds=args.jitter),
                paused=args.paused,
            )
            out.write(f"created {info.schedule_id}: next tick {info.next_tick_at.isoformat()}\n")
        elif args.action in ("pause", "resume"):
            info = await (schedules.pause if args.action == "pause" else schedules.resume)(args.schedule_id)
            state = "paused" if info.paused else f"resumed, next tick {info.next_tick_at.isoformat()}"
            out.write(f"{info.schedule_id}: {state}\n")
        elif args.action == "delete":
            if not await schedules.delete(args.schedule_id):
                out.write(f"no schedule {args.schedule_id!r}\n")
                return 1
            out.write(f"deleted {args.schedule_id}\n")
        else:
            out.write(f"started {await schedules.trigger_now(args.schedule_id)}\n")
    return 0


def _print_list(found: list[ScheduleInfo], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps([info_json(i) for i in found], indent=2) + "\n")
        return
    if not found:
        out.write("no schedules\n")
    for i in found:
        last = i.last_fire_at.isoformat() if i.last_fire_at else "never"
        state = "paused" if i.paused else f"next {i.next_fire_at.isoformat()}"
        out.write(f"{i.schedule_id}  {i.workflow_name:<24} {i.spec.describe:<32} {state}  last {last}\n")
