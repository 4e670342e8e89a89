"""A durable research agent on mirascope: every model request and tool call is a recorded step."""

import asyncio

from mirascope import llm
from pydantic import BaseModel

from durable_core import EddaApp, WorkflowContext, workflow
from durable_mirascope import durable_call, instance_usage
from durable_mirascope.testing import ScriptedProvider, reply, tool_call

# An offline stand-in for a real model, so this example runs anywhere. With an API key, drop these
# lines and use a real model id such as "openai/gpt-5-mini" or "anthropic/claude-sonnet-4-5".
llm.register_provider(
    ScriptedProvider(
        [
            reply(
                "Let me search.",
                tool_calls=[tool_call("search", query="durable execution"), tool_call("search", query="MCP")],
                input_tokens=120,
                output_tokens=30,
            ),
            reply(
                '{"summary": "Durable agents resume after crashes.", "sources": 2}',
                input_tokens=300,
                output_tokens=45,
            ),
        ]
    ),
    scope="scripted/",
)


class Report(BaseModel):
    summary: str
    sources: int


@llm.tool
def search(query: str) -> str:
    """Search the knowledge base."""
    print(f"tool: search({query!r})")
    return f"3 articles about {query}"


@durable_call("scripted/demo", tools=[search], format=Report, temperature=0.2)
def research(topic: str) -> str:
    return f"Research {topic}. Use the search tool, then answer as JSON."


@workflow
async def research_agent(ctx: WorkflowContext, topic: str) -> dict[str, object]:
    result = await research.agent(ctx, topic, max_steps=5)
    report = result.response.parse()
    return {"summary": report.summary, "steps": result.steps, "tokens": result.usage.total_tokens}


async def main() -> None:
    async with EddaApp("sqlite:///mirascope_agent.db", "research", workflows=[research_agent]) as app:
        instance_id = await research_agent.start(topic="durable AI agents")
        print("result:", await app.handle(instance_id).result(timeout=10))
        for entry in await app.get_history(instance_id):
            print(f"  position {entry.position}: {entry.name}")
        usage = await instance_usage(app, instance_id)
        print(f"instance usage: {usage.requests} requests, {usage.total_tokens} tokens")
        reports = await app.replay_check()
        print("replay check ok:", all(report.ok for report in reports))


if __name__ == "__main__":
    asyncio.run(main())
