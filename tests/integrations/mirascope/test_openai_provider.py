"""Compatibility with a real mirascope provider: OpenAI's, pointed at an in-process httpx MockTransport.

The recorded response of the real provider (raw ``ChatCompletion``, usage, the assistant message's
provider-specific ``raw_message``) must survive the JSON round trip well enough that a replayed response
can be resumed through the same provider: the follow-up request carries the tool calls and tool outputs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from mirascope import llm
from mirascope.llm.providers.openai.completions.provider import OpenAICompletionsProvider

from durable_core import Catalog, FakeClock, WorkflowContext, sleep, workflow
from durable_mirascope import durable_call, instance_usage
from tests.integrations.mirascope.support import activity_names, wake


def _completion(turn: int, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any]
    if turn == 0:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "search", "arguments": json.dumps({"query": "edda"})},
                }
            ],
        }
        finish = "tool_calls"
    else:
        tool_message = next(m for m in body["messages"] if m["role"] == "tool")
        message = {"role": "assistant", "content": f"Answer from {tool_message['content']}"}
        finish = "stop"
    return {
        "id": f"chatcmpl-{turn}",
        "object": "chat.completion",
        "created": 1_900_000_000 + turn,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 30 + turn, "completion_tokens": 7, "total_tokens": 37 + turn},
    }


@pytest.fixture
async def openai_mock() -> AsyncIterator[list[dict[str, Any]]]:
    """Register mirascope's OpenAI completions provider for ``openai/`` over a mock transport."""
    bodies: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        body = json.loads(request.content)
        bodies.append(body)
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return httpx.Response(200, json=_completion(turn, body))

    http_client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    provider = OpenAICompletionsProvider(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    provider.async_client = openai.AsyncOpenAI(
        api_key="sk-test", base_url="http://127.0.0.1:9/v1", http_client=http_client
    )
    llm.register_provider(provider, scope="openai/")
    yield bodies
    llm.reset_provider_registry()
    await http_client.aclose()


async def test_real_provider_response_replays_and_resumes(
    make_app, catalog: Catalog, clock: FakeClock, openai_mock: list[dict[str, Any]]
) -> None:
    searches: list[str] = []
    replies: list[tuple[str, list[str]]] = []

    @llm.tool
    def search(query: str) -> str:
        """Search the web."""
        searches.append(query)
        return f"results for {query}"

    @durable_call("openai/gpt-4o-mini", tools=[search], temperature=0.1)
    def research(topic: str) -> str:
        return f"Research {topic}"

    @workflow(catalog=catalog)
    async def researcher(ctx: WorkflowContext) -> str:
        first = await research(ctx, "edda")
        replies.append((first.provider_id, [c.id for c in first.tool_calls]))
        await sleep(ctx, 5)  # everything after this runs on a replay: `first` is rebuilt from JSON
        outputs = await first.execute_tools()
        final = await first.resume(outputs)
        return str(final.text())

    app = await make_app()
    iid = await researcher.start()
    await wake(app, clock, iid, 6)
    assert await app.wait_result(iid, timeout=30) == "Answer from results for edda"

    assert replies == [("openai:completions", ["call_abc"])] * 2
    assert searches == ["edda"] and len(openai_mock) == 2
    first_request, follow_up = openai_mock
    assert first_request["temperature"] == 0.1 and first_request["tools"][0]["function"]["name"] == "search"
    roles = [m["role"] for m in follow_up["messages"]]
    assert roles == ["user", "assistant", "tool"]
    assert follow_up["messages"][1]["tool_calls"][0]["id"] == "call_abc"
    assert follow_up["messages"][2]["tool_call_id"] == "call_abc"
    assert await activity_names(app, iid) == [
        "mirascope.call:research",
        "mirascope.tool:search",
        "mirascope.resume:research",
    ]
    history = await app.get_history(iid)
    assert history[0].result.json_value["raw"]["id"] == "chatcmpl-0"  # the real raw response, as JSON
    usage = await instance_usage(app, iid)
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (2, 61, 14)
