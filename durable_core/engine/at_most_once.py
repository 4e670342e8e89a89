"""The durable state of at-most-once steps, kept in the step's ``edda_attempts`` row.

Before each attempt of an ``at_most_once`` activity the engine writes the row's ``last_error`` as the
"attempt started" mark (one fenced statement; other activities never write it). A successful attempt
records its history entry, a failed one overwrites the mark with its error, so a mark still there when a
run reaches the step means the attempt was interrupted. An operator's answer replaces the mark with an
answer mark holding ``happened`` and the JSON result. Keeping this in the existing row needs no schema
change and costs nothing for ordinary activities.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_core.authoring.activity import Activity
from durable_core.authoring.at_most_once import DidNotHappen, Happened, ReconcileDecision, Unknown
from durable_core.authoring.context import CURRENT_CONTEXT, WorkflowContext
from durable_core.errors import InputValidationError, NoUnknownOutcomeError
from durable_core.serialization import to_json_value
from durable_core.signals import OutcomeUnknownSignal
from durable_core.storage.base import Storage
from durable_core.types import (
    OUTCOME_ANSWER_MARK,
    OUTCOME_UNKNOWN_MARK,
    AttemptState,
    ErrorInfo,
    InstanceStatus,
    JsonValue,
    OutcomeAnswer,
)
from durable_core.validation import check_storable, check_text

logger = logging.getLogger("durable_core.engine")


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """An attempt started and no outcome was recorded (``asked``: the parked instance asks about it).

    The mark stays in the row after the attempt's result was recorded; only a step without a history
    entry, or the one a parked instance asks about, is really interrupted.
    """

    activity: str
    attempt: int
    asked: bool = False


@dataclass(frozen=True, slots=True)
class OperatorAnswer:
    """An operator said whether the interrupted attempt happened (and, if it did, its result)."""

    happened: bool
    result: JsonValue
    answered_by: str


StepMark = AttemptStarted | OperatorAnswer


def started_mark(activity: str, attempt: int, *, asked: bool = False) -> ErrorInfo:
    """The ``last_error`` value written before an attempt of an at-most-once activity.

    ``asked`` marks the step the parked instance asks an operator about (the answer goes to that step
    even when several interrupted steps of one ``asyncio.gather`` left their marks).
    """
    return ErrorInfo(
        OUTCOME_UNKNOWN_MARK,
        f"attempt {attempt} of at-most-once activity {activity} started; no outcome recorded",
        {"activity": activity, "attempt": attempt, "asked": asked},
    )


def answer_mark(happened: bool, result: JsonValue, answered_by: str) -> ErrorInfo:
    """The ``last_error`` value that replaces the started mark when an operator answers."""
    said = "happened" if happened else "did not happen"
    return ErrorInfo(
        OUTCOME_ANSWER_MARK,
        f"{answered_by} answered: the interrupted attempt {said}",
        {"happened": happened, "result": result, "answered_by": answered_by},
    )


def read_mark(state: AttemptState | None) -> StepMark | None:
    """The at-most-once mark of a step's attempts row, if it holds one."""
    info = state.last_error if state is not None else None
    if info is None or not isinstance(info.args, dict):
        return None
    args = info.args
    if info.type_name == OUTCOME_UNKNOWN_MARK:
        attempt = int(str(args.get("attempt", 0)))
        return AttemptStarted(str(args.get("activity", "")), attempt, args.get("asked") is True)
    if info.type_name == OUTCOME_ANSWER_MARK:
        return OperatorAnswer(
            bool(args.get("happened")), args.get("result"), str(args.get("answered_by", ""))
        )
    return None


def unknown_signal(instance_id: str, position: int, mark: AttemptStarted, why: str) -> OutcomeUnknownSignal:
    """The signal that parks an instance as ``outcome_unknown``, with the reason shown to operators."""
    reason = (
        f"outcome unknown: attempt {mark.attempt} of at-most-once activity {mark.activity} "
        f"(position {position}) was interrupted before its outcome was recorded; {why}; answer with "
        f"resolve_unknown({instance_id!r}, happened=True/False, result=...)"
    )
    return OutcomeUnknownSignal(reason, mark.activity, position, mark.attempt)


async def ask_reconcile(
    act: Activity[..., Any], ctx: WorkflowContext, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> ReconcileDecision:
    """Call ``act.reconcile``; a failure or a wrong answer counts as :class:`Unknown` (an operator decides).

    Retrying a failing reconcile blindly could hide a bug from the operator, so its error is shown instead.
    """
    fn = act.reconcile
    if fn is None:
        return Unknown("the activity has no reconcile function")
    token = CURRENT_CONTEXT.set(ctx)
    try:
        if act.reconcile_is_async:
            decision = await fn(ctx, *args, **kwargs)
        else:
            decision = await asyncio.to_thread(fn, ctx, *args, **kwargs)
    except Exception as exc:
        logger.warning("reconcile of %s in %s raised %r", act.name, ctx.instance_id, exc)
        return Unknown(f"reconcile raised {type(exc).__name__}: {exc}")
    finally:
        CURRENT_CONTEXT.reset(token)
    if not isinstance(decision, Happened | DidNotHappen | Unknown):
        return Unknown(f"reconcile returned {type(decision).__name__}, not Happened, DidNotHappen or Unknown")
    return decision


async def answer_unknown(storage: Storage, now: datetime, instance_id: str, answer: OutcomeAnswer) -> None:
    """Store an operator's answer for an instance in ``outcome_unknown`` (it then runs again).

    Raises:
        InputValidationError: the answer is malformed (a result without ``happened``, a result that is not
            JSON, NaN, an empty ``answered_by``), naming the field; nothing is stored.
        InstanceNotFoundError: no such instance.
        NoUnknownOutcomeError: the instance is not waiting for an outcome answer.
    """
    mark = answer_mark(answer.happened, _answer_result(answer), answer.answered_by)
    status = await storage.answer_unknown_outcome(instance_id, mark, now)
    if status is not InstanceStatus.OUTCOME_UNKNOWN:
        raise NoUnknownOutcomeError(
            f"instance {instance_id} is {status.value}, not waiting for an answer about an at-most-once step"
        )


def _answer_result(answer: OutcomeAnswer) -> JsonValue:
    check_text("answered_by", answer.answered_by)
    if not isinstance(answer.happened, bool):
        raise InputValidationError(f"happened must be true or false, got {answer.happened!r}")
    if not answer.happened and answer.result is not None:
        raise InputValidationError(
            "result goes only with happened=True: an attempt that did not happen has none"
        )
    try:
        value = to_json_value(answer.result)
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"result must be a JSON value (no NaN or Infinity): {exc}") from None
    check_storable("result", value)
    return value
