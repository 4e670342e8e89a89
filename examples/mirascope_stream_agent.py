"""A streamed durable agent: every model turn streams its tokens to the instance's "tokens" stream."""

import asyncio

from mirascope import llm

from durable_core import EddaApp, WorkflowContext, workflow
from durable_mirascope import durable_call
from durable_mirascope.testing import ScriptedProvider, reply, tool_call

llm.register_provider(
    ScriptedProvider(
        [
            reply("Let me check the weather.", tool_calls=[tool_call("weather", city="Oslo")]),
            reply("It is 12 degrees in Oslo."),
        ]
    ),
    scope="scripted/",
)


@llm.tool
def weather(city: str) -> str:
    """Current temperature of a city."""
    return f"{city}: 12 C"


@durable_call("scripted/agent", tools=[weather])
def assistant(question: str) -> str:
    return question


@workflow
async def ask(ctx: WorkflowContext, question: str) -> str:
    result = await assistant.agent(ctx, question, stream_name="tokens")  # each turn streams
    return str(result.response.text())


async def main() -> None:
    async with EddaApp("sqlite:///stream_agent.db", "agents", workflows=[ask]) as app:
        instance_id = await ask.start(question="How warm is Oslo?")
        turns: dict[int, str] = {}
        async for chunk in app.follow_stream(instance_id, "tokens"):
            turns[chunk.position] = turns.get(chunk.position, "") + chunk.data
        for position, text in sorted(turns.items()):
            print(f"streamed by step {position}: {text}")
        print("answer:", await app.handle(instance_id).result(timeout=10))


if __name__ == "__main__":
    asyncio.run(main())
