"""ctx.session writes commit with the history entry; hooks see the lifecycle."""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy as sa

from durable_core import Catalog, EddaApp, RetryPolicy, WorkflowContext, activity, workflow

METADATA = sa.MetaData()
PAYMENTS = sa.Table(
    "test_payments",
    METADATA,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("amount", sa.Integer, nullable=False),
)


async def _create_user_table(app: EddaApp) -> None:
    # A test-only path to the engine's SQLAlchemy engine: user tables live in the same database.
    async with app.storage.user_transaction() as tx:
        conn = await tx.session.connection()
        await conn.run_sync(METADATA.create_all)
        await tx.session.commit()


async def _payments(app: EddaApp) -> list[tuple[str, int]]:
    async with app.storage.user_transaction() as tx:
        rows = (await tx.session.execute(sa.select(PAYMENTS.c.order_id, PAYMENTS.c.amount))).all()
    return sorted((r[0], r[1]) for r in rows)


async def test_session_writes_commit_with_the_step_and_roll_back_on_failure(
    make_app, catalog: Catalog
) -> None:
    @activity
    async def record_payment(ctx: WorkflowContext, order_id: str, amount: int) -> str:
        await ctx.session.execute(sa.insert(PAYMENTS).values(order_id=order_id, amount=amount))
        return f"PAY-{order_id}"

    @activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0, max_interval=0))
    async def write_then_fail(ctx: WorkflowContext, order_id: str) -> None:
        await ctx.session.execute(sa.insert(PAYMENTS).values(order_id=f"{order_id}-{ctx.attempt}", amount=1))
        raise RuntimeError("after writing")

    @workflow(catalog=catalog)
    async def pay(ctx: WorkflowContext, order_id: str) -> str:
        receipt = await record_payment(ctx, order_id, 42)
        with contextlib.suppress(Exception):
            await write_then_fail(ctx, order_id)
        return receipt

    app = await make_app()
    await _create_user_table(app)
    iid = await pay.start(order_id="o1")
    assert await app.handle(iid).result(timeout=10) == "PAY-o1"
    assert await _payments(app) == [("o1", 42)]  # failed attempts' writes were rolled back


class RecordingHooks:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    async def on_workflow_start(
        self, instance_id: str, workflow_name: str, input_data: dict[str, Any]
    ) -> None:
        self.events.append(("start", workflow_name, input_data))

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        self.events.append(("complete", workflow_name, result))

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        self.events.append(("activity", activity_id, result, cache_hit))

    async def on_activity_retry(
        self,
        instance_id: str,
        activity_id: str,
        activity_name: str,
        error: Exception,
        attempt: int,
        delay: float,
    ) -> None:
        self.events.append(("retry", activity_name, attempt))
        raise RuntimeError("a broken hook must not break the workflow")


async def test_hooks_are_called_and_their_errors_ignored(make_app, catalog: Catalog) -> None:
    hooks = RecordingHooks()
    tries = {"n": 0}

    @activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0, max_interval=0))
    async def flaky(ctx: WorkflowContext, x: int) -> int:
        tries["n"] += 1
        if tries["n"] == 1:
            raise ConnectionError("once")
        return x

    @workflow(catalog=catalog)
    async def wf(ctx: WorkflowContext, x: int) -> int:
        return await flaky(ctx, x)

    app = await make_app(hooks=hooks)
    iid = await wf.start(x=7)
    assert await app.handle(iid).result(timeout=10) == 7
    assert hooks.events == [
        ("start", "wf", {"x": 7}),
        ("retry", "flaky", 1),
        ("activity", "flaky:0", 7, False),
        ("complete", "wf", 7),
    ]
