"""``EddaDurability(rate_limit=name)``: every model request takes a grant of an app rate limit first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from durable_core import EddaApp, FakeClock, InstanceStatus, RateLimit, StepKind, WorkflowFailedError
from tests.integrations.mirascope.support import activity_names, wait_parked, wake
from tests.integrations.pydantic_ai import agents


async def test_second_model_request_waits_durably_for_a_grant(make_app: Any, clock: FakeClock) -> None:
    app: EddaApp = await make_app(rate_limits={"llm": RateLimit(1, per=timedelta(hours=1))})
    iid = await agents.rate_limited.with_options(app=app).start()
    await wait_parked(app, iid)
    parked = await app.get_instance(iid)
    # the first request and the tool ran; the second request parks until the next grant, an hour away
    assert parked.wake_at is not None and parked.wake_at >= clock.now() + timedelta(minutes=59)
    assert (agents.CALLS["limited_model"], agents.CALLS["ping"]) == (1, 1)
    assert len(await activity_names(app, iid)) == 2
    await wake(app, clock, iid, 3600)
    assert await app.wait_result(iid, timeout=30) == "pong received"
    assert (agents.CALLS["limited_model"], agents.CALLS["ping"]) == (2, 1)  # nothing ran twice
    assert (await app.get_instance(iid)).status is InstanceStatus.COMPLETED
    names = [e.name for e in await app.get_history(iid) if e.kind is StepKind.ACTIVITY]
    assert names == [
        "limited__model.request",
        "limited__function_toolset__<agent>.call_tool:ping",
        "limited__model.request",
    ]


async def test_an_unknown_limit_fails_the_run_with_its_name(make_app: Any) -> None:
    app: EddaApp = await make_app()  # no rate limit named "llm" on this app
    iid = await agents.rate_limited.with_options(app=app).start()
    with pytest.raises(WorkflowFailedError, match="llm"):
        await app.wait_result(iid, timeout=30)
    assert agents.CALLS["limited_model"] == 0  # nothing was sent
