"""The instance page, its payload downloads and the action endpoint."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from durable_core import (
    EddaApp,
    EddaError,
    HistoryEntry,
    InstanceNotFoundError,
    InstanceRecord,
    InstanceUsage,
)
from edda_mcp import human
from edda_mcp.console.actions import ACTIONS, ActionProblem, ActionRequest, action_named
from edda_mcp.console.forms import fields_of
from edda_mcp.console.payloads import download, show
from edda_mcp.console.security import csrf_ok
from edda_mcp.console.timeline import timeline

if TYPE_CHECKING:
    from edda_mcp.console.app import Console

__all__ = ["CSRF_PROBLEM", "act", "instance_page", "payload"]

CSRF_PROBLEM = "the form's CSRF token is missing or wrong (reload the page and try again)"
_MAX_REASON = 2000


async def _record(console: Console, request: Request) -> InstanceRecord | Response:
    instance_id = request.path_params["instance_id"]
    try:
        return await console.app.get_instance(instance_id)
    except (InstanceNotFoundError, ValueError, EddaError) as exc:
        status = 404 if isinstance(exc, InstanceNotFoundError) else 400
        return console.render(request, "error.html", status, title="Not found", problem=str(exc))


async def _context(console: Console, record: InstanceRecord) -> dict[str, Any]:
    app, iid, name = console.app, record.instance_id, record.workflow_name
    history = await app.get_history(iid)
    wait = await app.get_wait(iid) if record.status.value == "waiting" else None
    inputs = await human.pending_inputs(app, record)
    archive = await app.get_archived_runs(iid)
    return {
        "r": record,
        "input": show(record.input, name, console.redactor),
        "output": show(record.output, name, console.redactor),
        "steps": timeline(record, history, await app.get_attempts(iid)),
        "history": [(e, show(e.result, name, console.redactor, 600)) for e in history],
        "wait": wait,
        "forms": [(req.event_type, fields_of(req.schema), req.schema) for req in inputs],
        "children": await app.list_children(iid),
        "parent": record.parent_instance_id,
        "archive": [(run.run, len(run.entries)) for run in archive],
        "outbox": [
            (row, show(_outbox_payload(row), name, console.redactor, 300))
            for row in await app.list_outbox_of(iid)
        ],
        "journal": await app.list_operator_actions(iid),
        "actions": [] if console.options.read_only else [a.name for a in ACTIONS if a.applies(record)],
        "progress": await app.get_progress(iid),
        "streams": await app.list_streams(iid),
        "usage": _usage(app, record, history),
    }


def _usage(app: EddaApp, record: InstanceRecord, history: list[HistoryEntry]) -> InstanceUsage | None:
    """LLM usage and budget of the instance (None when it made no model request and has no budget).

    Derived from the history the page has already read, not read again.
    """
    try:
        usage = app.usage_from(record, history)
    except EddaError:  # an input this console cannot decode (another codec): no usage line
        return None
    return usage if usage.usage.requests or usage.budget is not None else None


class _OutboxPayload:
    """An outbox row's data in the shape :func:`show` reads."""

    def __init__(self, json_value: Any, blob: bytes | None) -> None:
        self.encoding = "bytes" if blob is not None else ("json" if json_value is not None else "none")
        self.json_value = json_value
        self.blob = blob


def _outbox_payload(row: Any) -> _OutboxPayload:
    return _OutboxPayload(row.event.data_json, row.event.data_blob)


async def instance_page(console: Console, request: Request, **extra: Any) -> Response:
    """Everything about one instance."""
    record = await _record(console, request)
    if isinstance(record, Response):
        return record
    context = await _context(console, record)
    status = extra.pop("status", 200)
    return console.render(
        request,
        "instance.html",
        status,
        title=f"Instance {record.instance_id}",
        live=f"page=instance&id={quote(record.instance_id, safe='')}",
        done=request.query_params.get("done", ""),
        problem=extra.pop("problem", ""),
        form=extra.pop("form", {}),
        **context,
    )


async def payload(console: Console, request: Request) -> Response:
    """The full value of ``input``, ``output``, ``history-<position>`` or ``outbox-<event id>``.

    Redacted like the page.
    """
    record = await _record(console, request)
    if isinstance(record, Response):
        return record
    which = request.path_params["which"]
    stored: Any
    if which in ("input", "output"):
        stored = record.input if which == "input" else record.output
    elif which.startswith("history-") and which[8:].isdigit():
        entries = {e.position: e for e in await console.app.get_history(record.instance_id)}
        entry = entries.get(int(which[8:]))
        if entry is None:
            return console.render(request, "error.html", 404, title="Not found", problem="no such entry")
        stored = entry.result
    elif which.startswith("outbox-"):
        rows = {row.event.event_id: row for row in await console.app.list_outbox_of(record.instance_id)}
        row = rows.get(which[7:])
        if row is None:
            return console.render(
                request, "error.html", 404, title="Not found", problem="no such outbox event"
            )
        stored = _outbox_payload(row)
    else:
        return console.render(request, "error.html", 404, title="Not found", problem="no such payload")
    body, media_type = download(stored, record.workflow_name, console.redactor)
    filename = f"{record.instance_id[:40]}-{which}.{'json' if media_type == 'application/json' else 'bin'}"
    headers = {"content-disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
    return Response(body, media_type=media_type, headers=headers)


async def act(console: Console, request: Request) -> Response:
    """Run one action (POST, CSRF-checked, refused in read-only mode) and journal it."""
    form = await request.form()
    if not csrf_ok(request, form.get("csrf")):
        return console.render(request, "error.html", 403, title="Refused", problem=CSRF_PROBLEM)
    action = action_named(request.path_params["action"])
    if console.options.read_only or action is None:
        problem = "this console is read-only" if console.options.read_only else "no such action"
        return console.render(request, "error.html", 403 if action else 404, title="Refused", problem=problem)
    record = await _record(console, request)
    if isinstance(record, Response):
        return record
    reason = str(form.get("reason") or "").strip()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        if not reason:
            raise ActionProblem("reason: say why (it is kept with the action)")
        if len(reason) > _MAX_REASON:
            raise ActionProblem(f"reason: at most {_MAX_REASON} characters")
        if not action.applies(record):
            raise ActionProblem(f"{action.label} does not apply to a {record.status.value} instance")
        actor = str(request.state.actor)
        message, detail = await action.run(ActionRequest(console.app, record, fields, actor, reason))
        await console.app.record_operator_action(
            record.instance_id, action.name, actor=actor, reason=reason, detail=json.loads(json.dumps(detail))
        )
    except (ActionProblem, EddaError, ValueError) as exc:
        return await instance_page(console, request, status=400, problem=str(exc), form=fields)
    console.forget_counts()
    console.hub.bump()
    root = request.scope.get("root_path", "")
    target = f"{root}/instances/{quote(record.instance_id)}?done={quote(message)}"
    return RedirectResponse(target, status_code=303)
