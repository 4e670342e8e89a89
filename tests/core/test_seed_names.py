"""The seed's (Edda's) public names that Edda code imports: ChannelMessage and HooksBase."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import durable_core
from durable_core import (
    Catalog,
    ChannelMessage,
    HooksBase,
    WorkflowContext,
    WorkflowHooks,
    receive,
    subscribe,
    workflow,
)


def test_seed_names_are_exported() -> None:
    assert {"ChannelMessage", "HooksBase"} <= set(durable_core.__all__)


async def test_receive_returns_a_channel_message_with_the_seed_attributes(make_app, catalog: Catalog) -> None:
    received: list[ChannelMessage[Any]] = []

    @workflow(catalog=catalog)
    async def listener(ctx: WorkflowContext) -> str:
        await subscribe(ctx, "jobs", mode="competing")
        message = await receive(ctx, "jobs")
        received.append(message)
        return str(message.data["task"])

    app = await make_app()
    iid = await listener.start()
    message_id = await app.publish("jobs", {"task": "report"})
    assert await app.handle(iid).result(timeout=10) == "report"
    message = received[-1]
    assert isinstance(message, ChannelMessage)
    assert (message.id, message.channel, message.data) == (message_id, "jobs", {"task": "report"})
    assert isinstance(message.published_at, datetime) and message.published_at == message.sent_at
    assert message.metadata["channel"] == "jobs" and message.metadata["id"] == message_id


async def test_hooks_base_subclass_overrides_only_what_it_needs(make_app, catalog: Catalog) -> None:
    finished: list[str] = []

    class OnlyCompletions(HooksBase):
        async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
            finished.append(f"{workflow_name}={result}")

    @workflow(catalog=catalog)
    async def answer(ctx: WorkflowContext) -> int:
        return 42

    hooks: WorkflowHooks = OnlyCompletions()  # a HooksBase satisfies the protocol
    app = await make_app(hooks=hooks)
    assert await app.handle(await answer.start()).result(timeout=10) == 42
    assert finished == ["answer=42"]
    await HooksBase().on_activity_retry("i", "a:0", "a", ValueError("x"), 1, 0.5)  # every hook exists
