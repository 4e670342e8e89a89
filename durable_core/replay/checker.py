"""The replay check: run stored histories against the current workflow code without executing anything.

Like Temporal's replayer, use it in CI before deploying a change to workflow code: every instance
whose history the new code would not reproduce is reported with the position and the mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from durable_core.authoring.catalog import Catalog
from durable_core.authoring.context import WorkflowContext
from durable_core.authoring.workflow import Workflow
from durable_core.errors import NonDeterminismError
from durable_core.replay.patches import GUARD_ADVICE, describe
from durable_core.replay.session import ReplaySession
from durable_core.replay.steps import ReplayMode
from durable_core.serialization import Serializer
from durable_core.signals import EddaSignal
from durable_core.types import (
    FINISHED_STATUSES,
    HistoryEntry,
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
    StepKind,
)

#: instances listed per query while checking (keyset paging, newest first)
PAGE_SIZE: Final = 200


class HistorySource(Protocol):
    """Where the replay check reads instances and their histories (the engine's storage)."""

    async def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        """Instances matching ``query``, newest first, at most ``query.limit``."""
        ...

    async def load_history(self, instance_id: str) -> list[HistoryEntry]:
        """All history entries of an instance, ordered by position."""
        ...


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """Outcome of replaying one instance.

    Attributes:
        instance_id: the instance checked.
        workflow_name: its workflow.
        ok: True when the code reproduced every recorded step.
        message: the divergence (empty when ok).
        position: the history position where the code and the history differ (None when ok or unknown).
        expected: the operation the history recorded there (e.g. ``activity 'charge'``).
        actual: the operation the code asked for there.
        patch_id: the ``ctx.patched`` change id involved, if any.
    """

    instance_id: str
    workflow_name: str
    ok: bool
    message: str = ""
    position: int | None = None
    expected: str = ""
    actual: str = ""
    patch_id: str | None = None


async def replay_instance(
    wf: Workflow[Any, Any],
    *,
    instance_id: str,
    status: InstanceStatus,
    stored_input: Any,
    history: list[HistoryEntry],
    serializer: Serializer,
    clock_now: Callable[[], datetime],
    frontier: int = 0,
) -> ReplayReport:
    """Replay one instance's history against ``wf`` in DRY mode (nothing runs, nothing is written).

    ``frontier``: how many positions the instance's code had taken when it last parked (``ctx.patched``).
    """
    session = ReplaySession(
        instance_id=instance_id,
        workflow_name=wf.name,
        history=history,
        serializer=serializer,
        clock_now=clock_now,
        executor=None,
        mode=ReplayMode.DRY,
        frontier=frontier,
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
        unreached = [e for e in session.unreached_entries() if e.kind is not StepKind.COMPENSATION]
        if unreached:
            first = unreached[0]
            error = NonDeterminismError(
                f"instance {instance_id}: the code finished after {session.positions_used} positions but the "
                f"history records {describe(first.kind, first.name)} at position {first.position}. "
                f"{GUARD_ADVICE}",
                position=first.position,
                expected=describe(first.kind, first.name),
                actual="nothing more (the code finished)",
            )
    if error is None:
        return ReplayReport(instance_id, wf.name, True)
    return ReplayReport(
        instance_id,
        wf.name,
        False,
        str(error),
        position=error.position,
        expected=error.expected,
        actual=error.actual,
        patch_id=error.patch_id,
    )


async def replay_check(
    source: HistorySource,
    catalog: Catalog,
    serializer: Serializer,
    clock_now: Callable[[], datetime],
    *,
    workflow_name: str | None = None,
    include_finished: bool = True,
    limit: int = 1000,
) -> list[ReplayReport]:
    """Replay stored histories against the workflows of ``catalog``, newest instance first.

    Instances are listed a page at a time (keyset paging on ``(created_at, instance_id)``); instances
    of workflows the catalog does not know are skipped.

    Args:
        source: the stored instances and histories.
        catalog: the current workflow code.
        serializer: decodes stored inputs and results.
        clock_now: the engine clock (what ``ctx.now()`` answers past the recorded history).
        workflow_name: only instances of this workflow.
        include_finished: also check completed/failed/cancelled instances.
        limit: check at most this many instances.
    """
    statuses = None if include_finished else frozenset(set(InstanceStatus) - FINISHED_STATUSES)
    reports: list[ReplayReport] = []
    before: tuple[datetime, str] | None = None
    while len(reports) < limit:
        query = InstanceQuery(
            statuses=statuses,
            workflow_name=workflow_name,
            limit=min(PAGE_SIZE, limit - len(reports)),
            before=before,
        )
        page = await source.list_instances(query)
        if not page:
            break
        for record in page:
            if record.workflow_name not in catalog:
                continue
            reports.append(
                await replay_instance(
                    catalog.get(record.workflow_name),
                    instance_id=record.instance_id,
                    status=record.status,
                    stored_input=serializer.decode(record.input),
                    history=await source.load_history(record.instance_id),
                    serializer=serializer,
                    clock_now=clock_now,
                    frontier=record.replay_frontier or 0,
                )
            )
        before = (page[-1].created_at, page[-1].instance_id)
    return reports
