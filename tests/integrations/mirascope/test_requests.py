"""Low-level ``model_request``, provider errors and retries, determinism checks, parallel tool calls."""

from __future__ import annotations

from typing import Any

import pytest
from mirascope import llm

from durable_core import Catalog, FakeClock, InstanceStatus, RetryPolicy, WorkflowContext, sleep, workflow
from durable_mirascope import (
    ModelRequestError,
    ModelRequestRejectedError,
    TokenUsage,
    durable_call,
    execute_tools,
    model_request,
    usage_of,
)
from durable_mirascope.testing import ScriptedRequest, reply, tool_call
from tests.integrations.mirascope.support import activity_names, wait_parked, wait_status, wake

NO_WAIT = RetryPolicy(max_attempts=3, initial_interval=0, jitter=0)


async def test_model_request_with_messages_built_in_the_workflow(
    make_app, catalog: Catalog, clock: FakeClock, scripted
) -> None:
    provider, model_id = scripted(lambda request: reply(f"echo: {request.last_user_text}"))
    texts: list[str] = []

    @workflow(catalog=catalog)
    async def asker(ctx: WorkflowContext, question: str) -> str:
        today = ctx.now().date().isoformat()  # durable time: the same on every replay
        messages = [llm.messages.system(f"Today is {today}."), llm.messages.user(question)]
        response = await model_request(ctx, model_id, messages, name="ask", max_tokens=50)
        texts.append(response.text())
        await sleep(ctx, 10)
        follow_up = await response.resume("And tomorrow?")
        return str(follow_up.text())

    app = await make_app()
    iid = await asker.start(question="What day is it?")
    await wake(app, clock, iid, 11)
    assert await app.wait_result(iid, timeout=30) == "echo: And tomorrow?"
    assert texts == ["echo: What day is it?"] * 2
    assert len(provider.requests) == 2
    assert provider.requests[0].params == {"max_tokens": 50}
    assert provider.requests[0].messages[0].content.text == "Today is 2030-01-01."
    assert await activity_names(app, iid) == ["mirascope.request:ask", "mirascope.resume:ask"]


async def test_changed_prompt_on_replay_blocks_the_instance(
    make_app, catalog: Catalog, clock: FakeClock, scripted
) -> None:
    """The request's messages are its activity arguments: different ones at a recorded position block."""
    provider, model_id = scripted(lambda request: reply("ok"))
    wording = ["Summarize the report."]

    @workflow(catalog=catalog)
    async def summarizer(ctx: WorkflowContext) -> str:
        response = await model_request(ctx, model_id, wording[0])
        await sleep(ctx, 10)
        return str(response.text())

    app = await make_app()
    iid = await summarizer.start()
    await wait_parked(app, iid)
    wording[0] = "Summarize the report in French."  # a deploy that changed the prompt mid-flight
    await wake(app, clock, iid, 11)
    record = await wait_status(app, iid, InstanceStatus.BLOCKED)
    assert "mirascope.request:request" in (record.blocked_reason or "")
    assert len(provider.requests) == 1


async def test_transient_provider_errors_are_retried(make_app, catalog: Catalog, scripted) -> None:
    def flaky(request: ScriptedRequest) -> Any:
        if len(provider.requests) < 3:
            raise llm.RateLimitError("slow down", provider="scripted", status_code=429)
        return reply("finally")

    provider, model_id = scripted(flaky)

    @durable_call(model_id, retry_policy=NO_WAIT)
    def ask() -> str:
        return "hi"

    @workflow(catalog=catalog)
    async def asker(ctx: WorkflowContext) -> str:
        return str((await ask(ctx)).text())

    app = await make_app()
    iid = await asker.start()
    assert await app.wait_result(iid, timeout=30) == "finally"
    assert len(provider.requests) == 3
    history = await app.get_history(iid)
    assert history[0].retry is not None and history[0].retry.total_attempts == 3
    assert history[0].retry.errors[0].type_name.endswith(":ModelRequestError")
    assert "RateLimitError: slow down" in history[0].retry.errors[0].message


async def test_rejected_requests_fail_at_once_with_a_rebuildable_error(
    make_app, catalog: Catalog, scripted
) -> None:
    def reject(request: ScriptedRequest) -> Any:
        raise llm.AuthenticationError("bad key", provider="scripted", status_code=401)

    provider, model_id = scripted(reject)
    caught: list[tuple[str, str, int | None]] = []

    @durable_call(model_id, retry_policy=NO_WAIT)
    def ask() -> str:
        return "hi"

    @workflow(catalog=catalog)
    async def asker(ctx: WorkflowContext) -> str:
        try:
            await ask(ctx)
        except ModelRequestRejectedError as exc:
            caught.append((exc.error_type.rsplit(":", 1)[1], exc.message, exc.status_code))
            return "handled"
        return "unreachable"

    app = await make_app()
    iid = await asker.start()
    assert await app.wait_result(iid, timeout=30) == "handled"
    assert len(provider.requests) == 1  # not retried
    assert caught == [("AuthenticationError", "bad key", 401)]
    assert issubclass(ModelRequestRejectedError, ModelRequestError)


async def test_parallel_tool_calls_take_positions_in_call_order(make_app, catalog: Catalog, scripted) -> None:
    _, model_id = scripted(
        [reply(tool_calls=[tool_call("double", n=i) for i in range(4)]), reply("sum is 12")]
    )

    @llm.tool
    async def double(n: int) -> int:
        """Double a number."""
        return 2 * n

    @durable_call(model_id, tools=[double])
    def compute() -> str:
        return "double 0..3"

    @workflow(catalog=catalog)
    async def computer(ctx: WorkflowContext) -> list[Any]:
        first = await compute(ctx)
        outputs = await execute_tools(ctx, first.tool_calls, llm.Toolkit([double]), parallel=True)
        final = await first.resume(outputs)
        return [[o.result for o in outputs], final.text()]

    app = await make_app()
    iid = await computer.start()
    assert await app.wait_result(iid, timeout=30) == [[0, 2, 4, 6], "sum is 12"]
    history = await app.get_history(iid)
    assert [e.name for e in history] == [
        "mirascope.call:compute",
        *["mirascope.tool:double"] * 4,
        "mirascope.resume:compute",
    ]
    assert [e.result.json_value["id"] for e in history[1:5]] == [f"call_0_{i}" for i in range(4)]


async def test_bad_model_id_is_a_clear_error(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="provider/model-name"):
        durable_call("no-slash-model")(lambda: "x")


async def test_model_objects_and_usage_helpers(scripted) -> None:
    _, model_id = scripted([reply("x")])

    @durable_call(llm.Model(model_id, temperature=0.7, max_tokens=20), name="tuned")
    def tuned() -> str:
        return "hi"

    assert tuned.name == "tuned" and tuned.spec.model_id == model_id
    assert tuned.spec.params == {"temperature": 0.7, "max_tokens": 20}
    assert tuned.spec.describe() == {
        "model_id": model_id,
        "params": {"temperature": 0.7, "max_tokens": 20},
        "tools": [],
        "format": None,
    }
    responses = [
        await llm.Model(model_id).call_async("a"),
        await llm.Model(model_id).call_async("b"),
    ]
    assert usage_of(responses) == TokenUsage(requests=2, input_tokens=20, output_tokens=10)
    assert TokenUsage.of(None) == TokenUsage(requests=1)
