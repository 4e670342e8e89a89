"""What an operator can do to an instance from its page: a small table of actions.

Each action says when it applies, which extra form fields it has and what it does; the route
``POST /instances/{id}/actions/{name}`` checks CSRF and read-only mode, runs it and journals it with
who and why in the engine's operator action journal (``app.record_operator_action``; a cancel also
stores them as the instance's ``cancelled_by``/``cancel_reason``). Adding an action is one :class:`Action`
entry in :data:`ACTIONS` and, if it has fields, a few lines in ``instance.html``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from durable_core import ControlOutcome, EddaApp, InstanceRecord, InstanceStatus, RunControlError
from edda_mcp import human
from edda_mcp.console.forms import FormProblem, read_answer

__all__ = ["ACTIONS", "Action", "ActionProblem", "ActionRequest", "action_named"]

EVENT_SOURCE = "edda-console"


class ActionProblem(Exception):
    """The action cannot be done as asked (shown to the operator, answered with 400)."""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One submitted action: the instance as read before it, the form, who and why."""

    app: EddaApp
    record: InstanceRecord
    form: Mapping[str, Any]
    actor: str
    reason: str


#: runs the action; returns the message shown to the operator and the journal detail
Runner = Callable[[ActionRequest], Awaitable[tuple[str, Any]]]


@dataclass(frozen=True, slots=True)
class Action:
    """An operator action.

    Attributes:
        name: URL segment and journal name.
        label: the button.
        applies: whether it is offered for an instance.
        run: what it does.
    """

    name: str
    label: str
    applies: Callable[[InstanceRecord], bool]
    run: Runner


async def _cancel(req: ActionRequest) -> tuple[str, Any]:
    outcome = await req.app.cancel(req.record.instance_id, req.reason, cancelled_by=req.actor)
    return f"cancel: {outcome.value}", {"outcome": outcome.value}


async def _resume(req: ActionRequest) -> tuple[str, Any]:
    if not await req.app.resume(req.record.instance_id):
        raise ActionProblem("the instance is not BLOCKED (any more); nothing was resumed")
    return "resumed", None


def _event_type(form: Mapping[str, Any]) -> str:
    event_type = str(form.get("event_type") or "").strip()
    if not event_type:
        raise ActionProblem("event type: required")
    return event_type


async def _answer(req: ActionRequest) -> tuple[str, Any]:
    event_type = _event_type(req.form)
    requests = await human.pending_inputs(req.app, req.record)
    try:
        request = human.choose(requests, event_type)
        data = read_answer(request.schema, req.form)
        if not isinstance(data, dict):
            raise ActionProblem("the answer must be a JSON object")
        _, event_id = await human.deliver(req.app, req.record, event_type, data, EVENT_SOURCE)
    except (human.InputProblem, FormProblem) as exc:
        raise ActionProblem(str(exc)) from None
    return f"answer sent for {event_type!r}", {"event_type": event_type, "event_id": event_id}


async def _send_event(req: ActionRequest) -> tuple[str, Any]:
    event_type = _event_type(req.form)
    text = str(req.form.get("data") or "").strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        raise ActionProblem(f"data: not valid JSON: {text[:80]!r}") from None
    requests = await human.pending_inputs(req.app, req.record)
    for request in requests:  # a typed wait gets only data its schema accepts
        if request.event_type == event_type and isinstance(data, dict):
            try:
                human.validate(request, data)
            except human.InputProblem as exc:
                raise ActionProblem(str(exc)) from None
    try:
        event_id = await req.app.send_event(
            event_type, EVENT_SOURCE, data, instance_id=req.record.instance_id
        )
    except (ValueError, TypeError) as exc:
        raise ActionProblem(f"the event was refused: {exc}") from None
    return f"event {event_type!r} sent", {"event_type": event_type, "event_id": event_id}


async def _control(req: ActionRequest, outcome: ControlOutcome, done: str) -> tuple[str, Any]:
    if outcome is ControlOutcome.ALREADY_APPLIED:
        return f"already {done}: nothing changed", {"outcome": outcome.value}
    return done, {"outcome": outcome.value}


async def _retry(req: ActionRequest) -> tuple[str, Any]:
    try:
        outcome = await req.app.retry(req.record.instance_id, by=req.actor, reason=req.reason)
    except RunControlError as exc:
        raise ActionProblem(str(exc)) from None
    return await _control(req, outcome, "retried from the failed step")


async def _pause(req: ActionRequest) -> tuple[str, Any]:
    outcome = await req.app.pause(req.record.instance_id, by=req.actor, reason=req.reason)
    return await _control(req, outcome, "paused at the next step boundary")


async def _unpause(req: ActionRequest) -> tuple[str, Any]:
    outcome = await req.app.unpause(req.record.instance_id, by=req.actor, reason=req.reason)
    return await _control(req, outcome, "unpaused")


async def _terminate(req: ActionRequest) -> tuple[str, Any]:
    outcome = await req.app.terminate(req.record.instance_id, req.reason, by=req.actor)
    return await _control(req, outcome, "terminated (no compensations)")


async def _fork(req: ActionRequest) -> tuple[str, Any]:
    at_text = str(req.form.get("at") or "").strip()
    if not at_text:
        raise ActionProblem("fork at: a history position or a step name is required")
    at: int | str = int(at_text) if at_text.isdigit() else at_text
    try:
        fork_id = await req.app.fork(req.record.instance_id, at, by=req.actor, reason=req.reason)
    except (RunControlError, ValueError) as exc:
        raise ActionProblem(str(exc)) from None
    return f"forked at {at!r} into {fork_id}", {"at": at, "fork": fork_id}


def _waiting_for_input(record: InstanceRecord) -> bool:
    return record.status is InstanceStatus.WAITING


ACTIONS: tuple[Action, ...] = (
    Action("cancel", "Cancel", lambda r: not r.status.is_finished and not r.cancel_requested, _cancel),
    Action("resume", "Resume", lambda r: r.status is InstanceStatus.BLOCKED, _resume),
    Action("answer", "Send answer", _waiting_for_input, _answer),
    Action("send-event", "Send event", lambda r: not r.status.is_finished, _send_event),
    Action("retry", "Retry", lambda r: r.status is InstanceStatus.FAILED, _retry),
    Action("pause", "Pause", lambda r: not r.status.is_finished and not r.paused, _pause),
    Action("unpause", "Unpause", lambda r: r.paused, _unpause),
    Action("terminate", "Terminate", lambda r: not r.status.is_finished, _terminate),
    Action("fork", "Fork", lambda r: True, _fork),
)


def action_named(name: str) -> Action | None:
    """The action called ``name``, or None."""
    return next((a for a in ACTIONS if a.name == name), None)
