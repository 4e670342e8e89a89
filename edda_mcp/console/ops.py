"""The queues page, the schedules page and the schedule actions (pause, resume, trigger now).

A schedule action is checked like an instance action (CSRF, read-only mode, a reason) and journaled in
the engine's operator action journal under the key ``schedule:<schedule id>``
(:func:`schedule_journal_key`), so the schedules page shows who paused what and why.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from durable_core import EddaError, ScheduleInfo, ScheduleNotFoundError
from edda_mcp.console.security import csrf_ok

if TYPE_CHECKING:
    from edda_mcp.console.app import Console

__all__ = ["KEY_LIMIT", "SCHEDULE_ACTIONS", "queues", "schedule_act", "schedule_journal_key", "schedules"]

#: keys of a queue listed with their backlog; the rest are counted ("N more")
KEY_LIMIT: Final = 20
#: journal rows shown per schedule, for the first this many schedules (one indexed read each)
_JOURNAL_ROWS: Final = 5
_JOURNAL_SCHEDULES: Final = 100
_MAX_REASON: Final = 2000
_CSRF_PROBLEM: Final = "the form's CSRF token is missing or wrong (reload the page and try again)"


def schedule_journal_key(schedule_id: str) -> str:
    """The operator-journal key of a schedule's actions (the journal is keyed like instances)."""
    return f"schedule:{schedule_id}"


async def queues(console: Console, request: Request) -> Response:
    """Every stored queue: limits, depth, running, oldest waiting run, top keys; named rate limits."""
    app = console.app
    rows = [(stats, await app.queue_backlog(stats.name, KEY_LIMIT)) for stats in await app.queue_stats()]
    return console.render(
        request,
        "queues.html",
        title="Queues",
        live="page=queues",
        queues=rows,
        rates=await app.rate_limit_states(),
    )


async def queues_fingerprint(console: Console) -> Any:
    """What the queues page's live stream compares: the totals of every queue and the rate limits."""
    stats = tuple((s.name, s.depth, s.queued, s.running) for s in await console.app.queue_stats())
    rates = tuple((r.name, r.next_free_at) for r in await console.app.rate_limit_states())
    return stats, rates


async def schedules(console: Console, request: Request, **extra: Any) -> Response:
    """Every schedule: workflow, spec, policies, paused, next and last fire, actions and their journal."""
    app = console.app
    items = await app.schedules.list()
    journal = {
        info.schedule_id: await app.list_operator_actions(
            schedule_journal_key(info.schedule_id), _JOURNAL_ROWS, newest_first=True
        )
        for info in items[:_JOURNAL_SCHEDULES]
    }
    return console.render(
        request,
        "schedules.html",
        extra.pop("status", 200),
        title="Schedules",
        live="page=schedules",
        schedules=items,
        journal=journal,
        done=request.query_params.get("done", ""),
        problem=extra.pop("problem", ""),
        actions=[] if console.options.read_only else [a.name for a in SCHEDULE_ACTIONS],
    )


async def schedules_fingerprint(console: Console) -> Any:
    """What the schedules page's live stream compares: each schedule's state."""
    return tuple(
        (s.schedule_id, s.paused, s.next_fire_at, s.last_instance_id, s.updated_at)
        for s in await console.app.schedules.list()
    )


class ScheduleActionProblem(Exception):
    """The schedule action cannot be done as asked (shown to the operator, answered with 400)."""


@dataclass(frozen=True, slots=True)
class ScheduleAction:
    """An operator action on a schedule: its URL segment, its button and what it does."""

    name: str
    label: str
    applies: Callable[[ScheduleInfo], bool]
    run: Callable[[Console, ScheduleInfo], Awaitable[tuple[str, Any]]]


async def _pause(console: Console, info: ScheduleInfo) -> tuple[str, Any]:
    await console.app.schedules.pause(info.schedule_id)
    return f"schedule {info.schedule_id} paused", None


async def _resume(console: Console, info: ScheduleInfo) -> tuple[str, Any]:
    resumed = await console.app.schedules.resume(info.schedule_id)
    return f"schedule {info.schedule_id} resumed", {"next_fire_at": resumed.next_fire_at.isoformat()}


async def _trigger(console: Console, info: ScheduleInfo) -> tuple[str, Any]:
    instance_id = await console.app.schedules.trigger_now(info.schedule_id)
    return f"schedule {info.schedule_id} started {instance_id}", {"instance_id": instance_id}


SCHEDULE_ACTIONS: Final[tuple[ScheduleAction, ...]] = (
    ScheduleAction("pause", "Pause", lambda s: not s.paused, _pause),
    ScheduleAction("resume", "Resume", lambda s: s.paused, _resume),
    ScheduleAction("trigger", "Trigger now", lambda s: True, _trigger),
)


async def schedule_act(console: Console, request: Request) -> Response:
    """Run one schedule action (POST, CSRF-checked, refused in read-only mode) and journal it."""
    form = await request.form()
    if not csrf_ok(request, form.get("csrf")):
        return console.render(request, "error.html", 403, title="Refused", problem=_CSRF_PROBLEM)
    name = request.path_params["action"]
    action = next((a for a in SCHEDULE_ACTIONS if a.name == name), None)
    if console.options.read_only or action is None:
        problem = "this console is read-only" if console.options.read_only else "no such action"
        return console.render(request, "error.html", 403 if action else 404, title="Refused", problem=problem)
    try:
        info = await console.app.schedules.get(request.path_params["schedule_id"])
    except ScheduleNotFoundError as exc:
        return console.render(request, "error.html", 404, title="Not found", problem=str(exc))
    reason = str(form.get("reason") or "").strip()
    try:
        if not reason:
            raise ScheduleActionProblem("reason: say why (it is kept with the action)")
        if len(reason) > _MAX_REASON:
            raise ScheduleActionProblem(f"reason: at most {_MAX_REASON} characters")
        if not action.applies(info):
            state = "paused" if info.paused else "active"
            raise ScheduleActionProblem(f"{action.label} does not apply to an {state} schedule")
        message, detail = await action.run(console, info)
        await console.app.record_operator_action(
            schedule_journal_key(info.schedule_id),
            f"schedule-{action.name}",
            actor=str(request.state.actor),
            reason=reason,
            detail=json.loads(json.dumps(detail)),
        )
    except (ScheduleActionProblem, EddaError, ValueError) as exc:
        return await schedules(console, request, status=400, problem=str(exc))
    console.forget_counts()
    console.hub.bump()
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/schedules?done={quote(message)}", status_code=303)
