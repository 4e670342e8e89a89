"""At-most-once steps: what a ``reconcile=`` function answers, and the per-step idempotency key.

An ``@activity(at_most_once=True)`` records "attempt started" before each attempt. When a later run finds
an attempt started but no outcome recorded (the process died mid-attempt or lost its lease), it does not
run the activity again blindly: it calls the activity's ``reconcile`` function, which looks at the outside
world and answers with one of the three values below.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Union


@dataclass(frozen=True, slots=True)
class Happened:
    """The interrupted attempt did take effect: record ``result`` as the activity's result."""

    result: Any = None


@dataclass(frozen=True, slots=True)
class DidNotHappen:
    """The interrupted attempt had no effect: run the activity again (a new attempt)."""


@dataclass(frozen=True, slots=True)
class Unknown:
    """Still unknown: the instance waits (status ``outcome_unknown``) for an operator's answer.

    Attributes:
        reason: shown to the operator with the instance's status.
    """

    reason: str = ""


#: What a ``reconcile`` function returns.
ReconcileDecision = Union[Happened, DidNotHappen, Unknown]  # noqa: UP007 - runtime alias


def step_key(instance_id: str, position: int) -> str:
    """The idempotency key of the step at ``position`` of ``instance_id`` (32 hex digits)."""
    digest = hashlib.sha256(f"edda-step\x00{instance_id}\x00{position}".encode())
    return digest.hexdigest()[:32]
