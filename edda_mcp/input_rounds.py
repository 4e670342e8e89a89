"""Human input for 2026-07-28 clients: the ``input_required`` result form instead of a server request.

A 2026-07-28 server cannot send ``elicitation/create`` mid-call (every HTTP exchange is one request and
one response). When a run that a start or ``_result`` tool waited on parks for typed input and the
client declared elicitation, the tool answers with an ``InputRequiredResult``: one form elicitation with
the input's schema and a ``requestState`` naming the instance. The client asks its user and retries the
same call with the answer; the retry delivers it (validated against the schema, like the respond tool)
and waits again, on any replica. The SDK seals ``requestState`` so a client cannot forge it, and the
instance is still looked up with the caller's access rights.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from mcp.server.mcpserver import Context
from mcp_types import ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult
from mcp_types.version import is_version_at_least

from durable_core import EddaApp, InstanceRecord, InstanceStatus
from edda_mcp import human

logger = logging.getLogger("edda_mcp")

INPUT_REQUIRED_VERSION = "2026-07-28"
"""First protocol revision whose tool calls carry elicitation inside an ``InputRequiredResult``."""

INPUT_KEY = "edda_input"
"""Key of the one input request (and its response) in a round."""


@dataclass(frozen=True, slots=True)
class AskedInput:
    """What an earlier round asked for: which instance, which event type (carried in ``requestState``)."""

    instance_id: str
    event_type: str

    def encode(self) -> str:
        """The ``requestState`` value (the SDK seals it before it leaves the server)."""
        return json.dumps({"instance_id": self.instance_id, "event_type": self.event_type})


def uses_input_required(ctx: Context) -> bool:
    """Whether the caller speaks 2026-07-28 (or later) and declared elicitation."""
    version = ctx.protocol_version
    return (
        version is not None
        and is_version_at_least(version, INPUT_REQUIRED_VERSION)
        and human.supports_elicitation(ctx)
    )


def asked_input(ctx: Context) -> AskedInput | None:
    """The input an earlier round of this call asked for, from the echoed ``requestState``."""
    state = ctx.request_state if uses_input_required(ctx) else None
    if not state:
        return None
    try:
        decoded = json.loads(state)
        return AskedInput(str(decoded["instance_id"]), str(decoded["event_type"]))
    except (ValueError, KeyError, TypeError):
        return None  # not ours (the SDK already refused tampered state)


async def deliver_answer(
    ctx: Context, app: EddaApp, record: InstanceRecord, asked: AskedInput, source: str
) -> bool:
    """Deliver the retry's accepted answer to ``asked``; False when declined, stale or invalid."""
    responses = ctx.input_responses or {}
    answer = responses.get(INPUT_KEY)
    if not isinstance(answer, ElicitResult) or answer.action != "accept" or answer.content is None:
        return False
    requests = await human.pending_inputs(app, record)
    request = next((r for r in requests if r.event_type == asked.event_type), None)
    if request is None:
        return False  # answered meanwhile (respond tool, another client)
    data = dict(answer.content)
    try:
        human.validate(request, data)
    except human.InputProblem as exc:
        logger.info("elicited answer for %s refused: %s", record.instance_id, exc)
        return False
    await app.send_event(request.event_type, source, data, instance_id=record.instance_id)
    return True


async def input_required(
    ctx: Context, app: EddaApp, record: InstanceRecord, answered: AskedInput | None
) -> InputRequiredResult | None:
    """The ``InputRequiredResult`` asking for the input ``record`` waits for, or None.

    Nothing is asked when the instance is not waiting for exactly one typed input, or when this call
    already asked for that same input (the user declined or the answer did not fit: the respond tool
    remains).
    """
    if record.status is not InstanceStatus.WAITING or not uses_input_required(ctx):
        return None
    question = human.question_for(record, await human.pending_inputs(app, record))
    if question is None:
        return None
    request, message = question
    if answered is not None and answered.event_type == request.event_type:
        return None
    asked = AskedInput(record.instance_id, request.event_type)
    params = ElicitRequestFormParams(message=message, requested_schema=request.schema)
    return InputRequiredResult(
        input_requests={INPUT_KEY: ElicitRequest(params=params)}, request_state=asked.encode()
    )
