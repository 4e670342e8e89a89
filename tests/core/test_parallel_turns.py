"""Turn-taking of ``ctx.parallel`` branches against hand-made histories (replay session, no database).

The histories record the branches in an order the code would not produce by itself (branch ``b`` first),
as a first run with other completion timing would have: each branch must still get its own outcomes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from durable_core import NonDeterminismError, WorkflowContext, activity
from durable_core.replay import ReplayMode, ReplaySession
from durable_core.serialization import Serializer, args_hash
from durable_core.types import HistoryEntry, StepKind, StepOutcome

SERIALIZER = Serializer()
TIMEOUT = 30.0  # a hang (the bug this guards against) fails here instead of blocking the suite


@activity
async def step(ctx: WorkflowContext, label: str) -> str:
    raise AssertionError("a replayed step must not run")


def recorded(position: int, label: str) -> HistoryEntry:
    return HistoryEntry(
        instance_id="i-1",
        position=position,
        kind=StepKind.ACTIVITY,
        name="step",
        args_hash=args_hash({"args": [label], "kwargs": {}}),
        outcome=StepOutcome.OK,
        result=SERIALIZER.encode(label.upper()),
    )


def replaying(*labels: str) -> WorkflowContext:
    session = ReplaySession(
        instance_id="i-1",
        workflow_name="fan",
        history=[recorded(position, label) for position, label in enumerate(labels)],
        serializer=SERIALIZER,
        clock_now=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        executor=None,
        mode=ReplayMode.DRY,
    )
    return WorkflowContext(session)


async def branch(ctx: WorkflowContext, name: str) -> list[str]:
    return [await step(ctx, f"{name}-1"), await step(ctx, f"{name}-2")]


@pytest.mark.parametrize(
    "order",
    [
        ("b-1", "a-1", "b-2", "a-2"),
        ("b-1", "b-2", "a-1", "a-2"),
        ("a-1", "b-1", "b-2", "a-2"),
    ],
)
async def test_each_branch_gets_its_own_outcomes_in_any_recorded_order(order: tuple[str, ...]) -> None:
    ctx = replaying(*order)
    result = await asyncio.wait_for(ctx.parallel(branch(ctx, "a"), branch(ctx, "b")), TIMEOUT)
    assert result == [["A-1", "A-2"], ["B-1", "B-2"]]
    assert ctx.is_replaying is False  # every recorded position was consumed


async def test_an_entry_no_branch_asks_for_is_a_divergence_not_a_hang() -> None:
    ctx = replaying("b-1", "c-1", "a-1")  # nothing in this code asks for c-1 any more
    with pytest.raises(NonDeterminismError) as caught:
        await asyncio.wait_for(ctx.parallel(branch(ctx, "a"), branch(ctx, "b")), TIMEOUT)
    assert caught.value.position == 1
    assert "'step'" in str(caught.value)
