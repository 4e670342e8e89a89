"""Streaming, the low-level model request, and resume(): each recorded once, then replayed after a timer."""

import asyncio

from mirascope import llm

from durable_core import EddaApp, WorkflowContext, sleep, workflow
from durable_mirascope import durable_call, model_request
from durable_mirascope.testing import ScriptedProvider, ScriptedReply, ScriptedRequest, reply

requests: list[ScriptedRequest] = []


def answer(request: ScriptedRequest) -> ScriptedReply:
    requests.append(request)
    return reply(f"You said: {request.last_user_text}")


llm.register_provider(ScriptedProvider(answer), scope="scripted/")


@durable_call("scripted/demo")
def pitch(product: str) -> str:
    return f"Pitch {product} in one line."


def show(chunk: llm.AssistantContentChunk) -> None:
    if chunk.type == "text_chunk":  # runs live only: a replay returns the recorded response
        print(f"  chunk: {chunk.delta!r}")


@workflow
async def campaign(ctx: WorkflowContext, product: str) -> list[str]:
    streamed = await pitch.stream(ctx, product, on_chunk=show)
    today = ctx.now().date().isoformat()  # durable time: identical on every replay
    messages = [llm.messages.system(f"Today is {today}."), llm.messages.user("Write a slogan.")]
    slogan = await model_request(ctx, "scripted/demo", messages, name="slogan", max_tokens=30)
    await sleep(ctx, 1)  # the instance parks here; the rest runs after a replay of the history
    shorter = await slogan.resume("Shorter, please.")
    return [streamed.text(), slogan.text(), shorter.text()]


async def main() -> None:
    async with EddaApp("sqlite:///mirascope_streaming.db", "campaigns", workflows=[campaign]) as app:
        instance_id = await campaign.start(product="Edda")
        for line in await app.handle(instance_id).result(timeout=10):
            print("result:", line)
        print("history:", [entry.name for entry in await app.get_history(instance_id)])
        print(f"provider requests: {len(requests)} (streamed: {sum(r.streamed for r in requests)})")


if __name__ == "__main__":
    asyncio.run(main())
