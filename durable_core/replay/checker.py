"""The replay check: run stored histories against the current workflow code without executing anything.

Like Temporal's replayer, use it in CI before deploying a change to workflow code: every instance
whose history the new code would not reproduce is reported with the position and the mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from durable_core.authoring.context import WorkflowContext
from durable_core.authoring.workflow import Workflow
from durable_core.errors import NonDeterminismError
from durable_core.replay.session import ReplaySession
from durable_core.replay.steps import ReplayMode
from durable_core.serialization import Serializer
from durable_core.signals import EddaSignal
from durable_core.types import HistoryEntry, InstanceStatus, StepKind


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """Outcome of replaying one instance.

    Attributes:
        instance_id: the instance checked.
        workflow_name: its workflow.
        ok: True when the code reproduced every recorded step.
        message: the divergence (empty when ok).
    """

    instance_id: str
    workflow_name: str
    ok: bool
    message: str = ""


async def replay_instance(
    wf: Workflow[Any, Any],
    *,
    instance_id: str,
    status: InstanceStatus,
    stored_input: Any,
    history: list[HistoryEntry],
    serializer: Serializer,
) -> ReplayReport:
    """Replay one instance's history against ``wf`` in DRY mode (nothing runs, nothing is written)."""
    session = ReplaySession(
        instance_id=instance_id,
        workflow_name=wf.name,
        history=history,
        serializer=serializer,
        clock_now=lambda: datetime.now(UTC),
        executor=None,
        mode=ReplayMode.DRY,
    )
    try:
        await wf.fn(WorkflowContext(session), **wf.decode_arguments(stored_input))
    except EddaSignal:
        pass  # reached the end of what was recorded (or a wait): fine so far
    except Exception:
        pass
    finally:
        session.discard_unawaited()
    error = session.nondeterminism
    if error is None and status.is_finished:
        body_positions = [e.position for e in history if e.kind is not StepKind.COMPENSATION]
        if body_positions and max(body_positions) >= session.positions_used:
            error = NonDeterminismError(
                f"instance {instance_id}: the code finished after {session.positions_used} positions but the "
                f"history records {max(body_positions) + 1}"
            )
    if error is None:
        return ReplayReport(instance_id, wf.name, True)
    return ReplayReport(instance_id, wf.name, False, str(error))
