"""Human input for waiting workflows: validate an answer against the requested schema and deliver it.

A workflow asks for input with ``await wait_event(ctx, "approval", model=Approval)``; the instance parks
and ``app.get_wait`` reports the event type and the model's JSON schema. Answers arrive through the
generated ``<tool>_respond`` tool or, for clients that support it, elicitation; both are checked here
against the schema before anything is sent, so a bad answer never reaches (and never fails) the workflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import jsonschema
from mcp.server.mcpserver import Context

from durable_core import EddaApp, InstanceRecord, InstanceStatus, WaitInfo

logger = logging.getLogger("edda_mcp")


@dataclass(frozen=True, slots=True)
class InputRequest:
    """An input the instance is waiting for: the event type and its JSON schema (may be empty)."""

    event_type: str
    schema: dict[str, Any]


class InputProblem(Exception):
    """Why an answer cannot be delivered (the message is meant for the caller)."""


async def pending_inputs(app: EddaApp, record: InstanceRecord) -> list[InputRequest]:
    """The event types a WAITING instance waits for, with their schemas."""
    if record.status is not InstanceStatus.WAITING:
        return []
    info: WaitInfo | None = await app.get_wait(record.instance_id)
    if info is None:
        return []
    return [
        InputRequest(t, dict(s) if isinstance(s := info.input_schemas.get(t), dict) else {})
        for t in info.event_types
    ]


def choose(requests: list[InputRequest], event_type: str | None) -> InputRequest:
    """The request an answer is for (``event_type`` may be omitted when there is only one)."""
    if not requests:
        raise InputProblem("the instance is not waiting for input right now")
    if event_type is None:
        if len(requests) > 1:
            names = ", ".join(r.event_type for r in requests)
            raise InputProblem(f"the instance waits for several inputs ({names}); pass event_type")
        return requests[0]
    for request in requests:
        if request.event_type == event_type:
            return request
    names = ", ".join(r.event_type for r in requests)
    raise InputProblem(f"the instance does not wait for {event_type!r}; it waits for: {names}")


def validate(request: InputRequest, data: dict[str, Any]) -> None:
    """Check ``data`` against the request's schema; the error names each wrong field."""
    if not request.schema:
        return
    validator = jsonschema.Draft202012Validator(request.schema)
    problems = [
        f"{'.'.join(str(p) for p in err.absolute_path) or '(root)'}: {err.message}"
        for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    ]
    if problems:
        raise InputProblem(f"invalid answer for {request.event_type!r}: " + "; ".join(problems))


async def deliver(
    app: EddaApp, record: InstanceRecord, event_type: str | None, data: dict[str, Any], source: str
) -> tuple[InputRequest, str]:
    """Validate and send the answer into the instance's mailbox; returns the request and event id."""
    request = choose(await pending_inputs(app, record), event_type)
    validate(request, data)
    try:
        event_id = await app.send_event(request.event_type, source, data, instance_id=record.instance_id)
    except ValueError as exc:  # the engine refused it (e.g. a NUL character): the caller's mistake
        raise InputProblem(f"invalid answer for {request.event_type!r}: {exc}") from exc
    return request, event_id


def supports_elicitation(ctx: Context) -> bool:
    """Whether the caller declared form elicitation on a connection that can send it requests."""
    try:
        capabilities = ctx.client_capabilities
    except ValueError:
        return False
    return capabilities is not None and capabilities.elicitation is not None


def question_for(record: InstanceRecord, requests: list[InputRequest]) -> tuple[InputRequest, str] | None:
    """The one typed input to ask the user for, with the message shown; None if not exactly one."""
    if len(requests) != 1 or not requests[0].schema:
        return None
    request = requests[0]
    title = request.schema.get("title") or request.event_type
    return request, f"{record.workflow_name} (instance {record.instance_id}) needs input: {title}"


async def elicit(ctx: Context, app: EddaApp, record: InstanceRecord, source: str) -> bool:
    """Ask the user for the single input the instance waits for; True if an answer was delivered."""
    question = question_for(record, await pending_inputs(app, record))
    if question is None:
        return False
    request, message = question
    try:
        answer = await ctx.session.elicit_form(message, request.schema, related_request_id=ctx.request_id)
    except Exception:  # no back-channel or the client refused: fall back to the respond tool
        logger.info("elicitation for %s failed; the respond tool remains", record.instance_id, exc_info=True)
        return False
    if answer.action != "accept" or answer.content is None:
        return False
    data = dict(answer.content)
    try:
        validate(request, data)
    except InputProblem:
        logger.info("elicited answer for %s does not match the schema", record.instance_id)
        return False
    await app.send_event(request.event_type, source, data, instance_id=record.instance_id)
    return True
