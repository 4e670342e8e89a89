"""``edda-mcp instances ...``: list, show, send-event, purge, cancel, resume and resolve.

Every one opens the database without creating or migrating it (cancel, resume and resolve run
:mod:`edda_mcp.admin`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import sys
from datetime import datetime
from typing import Any, Final, TextIO

from durable_core import (
    EddaApp,
    HistoryEntry,
    InputValidationError,
    InstanceRecord,
    InstanceStatus,
    OutcomeAnswer,
    WaitInfo,
)
from edda_mcp import admin
from edda_mcp.cli_support import (
    add_db_argument,
    db_url,
    json_argument,
    open_for_reading,
    parse_age,
    parse_time,
    payload_value,
    write_json,
    write_table,
)

__all__ = ["add_instances_parser", "run_instances"]

#: most rows one ``instances list`` page shows (the engine's list limit)
MAX_PAGE: Final = 1000
#: history entries ``instances show`` prints unless ``--full`` / ``--steps``
SHOWN_STEPS: Final = 50
_FINISHED = [s.value for s in InstanceStatus if s.is_finished]


def add_instances_parser(sub: Any) -> Any:
    """Add ``instances`` and its subcommands to the top-level subparsers ``sub``; returns its parser."""
    instances = sub.add_parser("instances", help="list, show and control stored instances")
    isub = instances.add_subparsers(dest="action", required=True)
    _add_list(isub)
    show = isub.add_parser("show", help="one instance: input, result or error, wait, attempts, history")
    show.add_argument("instance_id")
    show.add_argument("--full", action="store_true", help="show payloads, tracebacks and the history whole")
    show.add_argument(
        "--steps", type=int, default=SHOWN_STEPS, help=f"last history entries shown ({SHOWN_STEPS})"
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    send = isub.add_parser("send-event", help="send an event into an instance's mailbox (or to all waiting)")
    send.add_argument("event_type", help="the CloudEvents type the workflow waits for")
    send.add_argument("instance_id", nargs="?", help="deliver to this instance (default: every waiter)")
    send.add_argument("--data", type=json_argument, default=None, help="event data, as JSON")
    send.add_argument("--source", default="edda-mcp-cli", help="CloudEvents source")
    send.add_argument("--event-id", help="CloudEvents id (idempotency key; default: a new UUID)")
    _add_purge(isub)
    cancel = isub.add_parser("cancel", help="request cancellation (its compensations run)")
    cancel.add_argument("instance_id")
    cancel.add_argument("--reason", default="cancelled from the command line")
    resume = isub.add_parser("resume", help="resume a BLOCKED instance after a code fix")
    resume.add_argument("instance_id")
    resolve = isub.add_parser("resolve", help="answer an outcome_unknown instance")
    resolve.add_argument("instance_id")
    _add_resolve_arguments(resolve)
    for parser in isub.choices.values():
        add_db_argument(parser)
    return instances


def _add_resolve_arguments(resolve: argparse.ArgumentParser) -> None:
    resolve.description = "Answer an outcome_unknown instance: did its interrupted at-most-once step happen?"
    said = resolve.add_mutually_exclusive_group(required=True)
    said.add_argument("--happened", action="store_true", help="it took effect: record --result")
    said.add_argument("--did-not-happen", action="store_true", help="it had no effect: run it again")
    resolve.add_argument("--result", type=json_argument, default=None, help="the step's result, as JSON")
    resolve.add_argument("--by", default="edda-mcp cli", help="who answers (kept with the answer)")


def _add_list(isub: Any) -> None:
    ls = isub.add_parser("list", help="instances, newest first, with a header (--json for scripts)")
    ls.add_argument("--status", action="append", choices=[s.value for s in InstanceStatus], help="repeatable")
    ls.add_argument("--workflow", help="only this workflow")
    ls.add_argument("--since", help="created at or after: ISO time or an age such as 30m, 1h, 2d")
    ls.add_argument("--until", help="created before: ISO time or an age")
    ls.add_argument("--limit", type=int, default=50, help=f"rows per page, 1..{MAX_PAGE} (default 50)")
    ls.add_argument("--after", metavar="CURSOR", help="the next page: the cursor the previous page printed")
    ls.add_argument("--json", action="store_true", help="print JSON: {instances, next}")


def _add_purge(isub: Any) -> None:
    purge = isub.add_parser("purge", help="delete finished instances with their history")
    purge.add_argument("--older-than", required=True, help="finished longer ago than this: 30d, 12h, ...")
    purge.add_argument("--status", action="append", choices=_FINISHED, help="only these (repeatable)")
    purge.add_argument("--limit", type=int, default=10_000, help="delete at most this many (default 10000)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def run_instances(args: argparse.Namespace, out: TextIO) -> int:
    """Run one ``instances`` subcommand; returns the exit code."""
    action = args.action
    if action == "list":
        return asyncio.run(_list(args, out))
    if action == "show":
        return asyncio.run(_show(args, out))
    if action == "send-event":
        return asyncio.run(_send_event(args, out))
    if action == "purge":
        return asyncio.run(_purge(args, out))
    url = db_url(args)
    if action == "cancel":
        asyncio.run(admin.cancel_instance(url, args.instance_id, args.reason, out))
    elif action == "resolve":
        answer = OutcomeAnswer(bool(args.happened), args.result, args.by)
        asyncio.run(admin.resolve_instance(url, args.instance_id, answer, out))
    else:
        asyncio.run(admin.resume_instance(url, args.instance_id, out))
    return 0


# -- list ---------------------------------------------------------------------------------------------
def encode_cursor(record: InstanceRecord) -> str:
    """The ``--after`` value that continues a listing after ``record`` (opaque, URL-safe)."""
    raw = f"{record.created_at.isoformat()}|{record.instance_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The keyset position of an ``--after`` cursor.

    Raises:
        InputValidationError: not a cursor this command printed.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, instance_id = raw.partition("|")
        moment = datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InputValidationError(f"--after {cursor!r} is not a cursor printed by instances list") from None
    if not instance_id or moment.tzinfo is None:
        raise InputValidationError(f"--after {cursor!r} is not a cursor printed by instances list")
    return moment, instance_id


async def _list(args: argparse.Namespace, out: TextIO) -> int:
    if not 1 <= args.limit <= MAX_PAGE:
        raise InputValidationError(f"--limit must be between 1 and {MAX_PAGE}, got {args.limit}")
    before = decode_cursor(args.after) if args.after else None
    async with open_for_reading(args) as app:
        now = app.clock.now()
        records = await app.list_instances(
            status=[InstanceStatus(s) for s in args.status] if args.status else None,
            workflow_name=args.workflow,
            created_after=parse_time(args.since, now) if args.since else None,
            created_before=parse_time(args.until, now) if args.until else None,
            limit=args.limit,
            before=before,
        )
    cursor = encode_cursor(records[-1]) if len(records) == args.limit else None
    if args.json:
        write_json(out, {"instances": [_summary(r) for r in records], "next": cursor})
        return 0
    if not records:
        out.write("no instances\n")
        return 0
    rows = [
        (
            r.instance_id,
            r.workflow_name,
            r.status.value,
            _when(r.created_at),
            _when(r.updated_at),
            r.app_version or "-",
        )
        for r in records
    ]
    write_table(out, ("INSTANCE", "WORKFLOW", "STATUS", "CREATED", "UPDATED", "VERSION"), rows)
    if cursor is not None:
        out.write(f"more: --after {cursor}\n")
    return 0


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _summary(r: InstanceRecord) -> dict[str, Any]:
    return {
        "instance_id": r.instance_id,
        "workflow": r.workflow_name,
        "status": r.status.value,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "finished_at": r.finished_at,
        "parent_instance_id": r.parent_instance_id,
        "app_version": r.app_version,
    }


# -- show ---------------------------------------------------------------------------------------------
async def _show(args: argparse.Namespace, out: TextIO) -> int:
    if args.steps < 0:
        raise InputValidationError(f"--steps must not be negative, got {args.steps}")
    async with open_for_reading(args) as app:
        data = await instance_details(app, args.instance_id, full=args.full, steps=args.steps)
    if args.json:
        write_json(out, data)
    else:
        _write_details(out, data)
    return 0


async def instance_details(
    app: EddaApp, instance_id: str, *, full: bool, steps: int = SHOWN_STEPS
) -> dict[str, Any]:
    """What ``instances show`` prints, as JSON-ready data.

    Unless ``full``, payloads are truncated and only the last ``steps`` history entries are included
    (``history_omitted`` says how many earlier ones were left out).
    """
    record = await app.get_instance(instance_id)
    progress = await app.get_progress(instance_id)
    wait = await app.get_wait(instance_id) if record.status is InstanceStatus.WAITING else None
    history = await app.get_history(instance_id)
    omitted = 0 if full or len(history) <= steps else len(history) - max(steps, 0)
    history = history[omitted:]
    error = record.error
    return {
        "instance_id": record.instance_id,
        "workflow": record.workflow_name,
        "status": record.status.value,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "finished_at": record.finished_at,
        "parent_instance_id": record.parent_instance_id,
        "singleton_key": record.singleton_key,
        "app_version": record.app_version,
        "last_run_version": record.last_run_version,
        "input": payload_value(record.input, full=full),
        "result": payload_value(record.output, full=full)
        if record.status is InstanceStatus.COMPLETED
        else None,
        "error": None
        if error is None
        else {
            "type": error.type_name,
            "message": error.message,
            "traceback": error.traceback if full else _last_lines(error.traceback),
        },
        "blocked_reason": record.blocked_reason,
        "cancel_requested": record.cancel_requested,
        "cancel_reason": record.cancel_reason,
        "cancelled_by": record.cancelled_by,
        "waits_for": _wait_json(wait),
        "steps_completed": progress.steps_completed,
        "current_step": progress.current_step,
        "crash_count": record.crash_count,
        "lease": {
            "owner": record.lease_owner,
            "epoch": record.lease_epoch,
            "expires_at": record.lease_expires_at,
        },
        "history_omitted": omitted,
        "history": [_entry_json(e, full=full) for e in history],
    }


def _entry_json(e: HistoryEntry, *, full: bool) -> dict[str, Any]:
    return {
        "position": e.position,
        "kind": e.kind.value,
        "name": e.name,
        "outcome": e.outcome.value,
        "attempts": e.retry.total_attempts if e.retry is not None else 1,
        "result": payload_value(e.result, full=full),
        "error": None if e.error is None else f"{e.error.type_name}: {e.error.message}",
        "recorded_at": e.recorded_at,
    }


def _last_lines(text: str, keep: int = 6) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= keep:
        return text.rstrip()
    return "\n".join([f"... ({len(lines) - keep} more lines; --full shows all)", *lines[-keep:]])


def _wait_json(wait: WaitInfo | None) -> dict[str, Any] | None:
    if wait is None:
        return None
    return {
        "event_types": list(wait.event_types),
        "channels": list(wait.channels),
        "children": list(wait.children),
        "wake_at": wait.wake_at,
        "input_schemas": wait.input_schemas,
    }


def _write_details(out: TextIO, data: dict[str, Any]) -> None:
    def line(label: str, value: object) -> None:
        if value not in (None, "", [], {}):
            text = value.isoformat() if isinstance(value, datetime) else str(value)
            out.write(f"{label + ':':<16}{text}\n")

    for key in ("instance_id", "workflow", "status", "created_at", "updated_at", "finished_at"):
        line(key.replace("_", " "), data[key])
    line("parent", data["parent_instance_id"])
    line("singleton key", data["singleton_key"])
    line("version", data["app_version"])
    line("last run by", data["last_run_version"])
    line("input", _compact(data["input"]))
    line("result", _compact(data["result"]))
    error = data["error"]
    if error is not None:
        line("error", f"{error['type']}: {error['message']}")
        if error["traceback"]:
            out.write("".join(f"    {t}\n" for t in error["traceback"].splitlines()))
    line("blocked reason", data["blocked_reason"])
    if data["cancel_requested"] or data["cancel_reason"]:
        line("cancel", f"{data['cancel_reason'] or '(no reason)'} (by {data['cancelled_by'] or '?'})")
    wait = data["waits_for"]
    if wait is not None:
        parts = [f"event {t!r}" for t in wait["event_types"]] + [f"channel {c!r}" for c in wait["channels"]]
        parts += [f"child {c}" for c in wait["children"]]
        if wait["wake_at"] is not None:
            parts.append(f"timer due {wait['wake_at'].isoformat()}")
        line("waits for", ", ".join(parts) or "-")
    line(
        "steps",
        f"{data['steps_completed']} completed"
        + (f", now {data['current_step']}" if data["current_step"] else ""),
    )
    lease = data["lease"]
    owner = lease["owner"] or "none"
    line("lease", f"{owner} (epoch {lease['epoch']}, crashes {data['crash_count']})")
    if data["history"]:
        omitted = data["history_omitted"]
        out.write(
            f"history (last {len(data['history'])}; {omitted} earlier, --full shows all):\n"
            if omitted
            else "history:\n"
        )
        rows = [
            (
                h["position"],
                h["kind"],
                h["name"],
                h["outcome"],
                h["attempts"],
                _compact(h["error"] or h["result"]),
            )
            for h in data["history"]
        ]
        write_table(out, ("POS", "KIND", "NAME", "OUTCOME", "ATTEMPTS", "RESULT / ERROR"), rows, indent="  ")


def _compact(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


# -- send-event and purge -----------------------------------------------------------------------------
async def _send_event(args: argparse.Namespace, out: TextIO) -> int:
    async with open_for_reading(args) as app:
        if args.instance_id is not None:
            await app.get_instance(args.instance_id)  # a typo is an error, not an event nobody reads
        event_id = await app.send_event(
            args.event_type, args.source, args.data, instance_id=args.instance_id, event_id=args.event_id
        )
    target = f"instance {args.instance_id}" if args.instance_id else "every instance waiting for it"
    out.write(f"sent {args.event_type!r} (id {event_id}) to {target}\n")
    return 0


async def _purge(args: argparse.Namespace, out: TextIO) -> int:
    age = parse_age(args.older_than)
    if args.limit < 1:
        raise InputValidationError(f"--limit must be a positive number, got {args.limit}")
    statuses = args.status or _FINISHED
    if not args.yes:
        question = (
            f"delete up to {args.limit} {'/'.join(statuses)} instance(s) that finished more than "
            f"{args.older_than} ago, with their history, from {db_url(args)}? [y/N] "
        )
        if not _confirm(question):
            out.write("nothing deleted\n")
            return 1
    async with open_for_reading(args) as app:
        count = await app.purge_instances(
            age, statuses=[InstanceStatus(s) for s in statuses], limit=args.limit
        )
    out.write(f"purged {count} instance(s)\n")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        sys.stderr.write("edda-mcp: error: purge needs --yes when stdin is not a terminal\n")
        return False
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
