"""``durable_call(..., rate_limit=name)``: model requests take grants of an app rate limit, waiting durably."""

from __future__ import annotations

from datetime import timedelta

from durable_core import Catalog, FakeClock, InstanceStatus, RateLimit, WorkflowContext, workflow
from durable_mirascope import durable_call
from durable_mirascope.testing import reply
from tests.integrations.mirascope.support import activity_names, wait_parked, wake


async def test_second_model_call_waits_for_a_grant(
    make_app, catalog: Catalog, clock: FakeClock, scripted
) -> None:
    _, model_id = scripted([reply("one"), reply("two")])

    @durable_call(model_id, rate_limit="llm")
    def ask(question: str) -> str:
        return question

    @workflow(catalog=catalog)
    async def two_questions(ctx: WorkflowContext) -> list[str]:
        first = await ask(ctx, "first?")
        second = await ask(ctx, "second?")
        return [first.text(), second.text()]

    app = await make_app(rate_limits={"llm": RateLimit(1, per=timedelta(hours=1))})
    iid = await two_questions.start()
    await wait_parked(app, iid)
    parked = await app.get_instance(iid)
    assert parked.wake_at is not None and parked.wake_at >= clock.now() + timedelta(minutes=59)
    assert len(await activity_names(app, iid)) == 1  # the second request waits (parked) for a grant
    await wake(app, clock, iid, 3600)
    assert len(await app.wait_result(iid, timeout=30)) == 2
    assert len(await activity_names(app, iid)) == 2
    assert (await app.get_instance(iid)).status is InstanceStatus.COMPLETED
