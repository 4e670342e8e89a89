"""Durable output streams: an activity writes tokens, a reader follows them live and resumes by cursor."""

import asyncio

from durable_core import ChunkStatus, EddaApp, RetryPolicy, WorkflowContext, activity, workflow

RETRY_AT_ONCE = RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=0)


@activity(retry_policy=RETRY_AT_ONCE)
async def write_poem(ctx: WorkflowContext, topic: str) -> str:
    out = ctx.stream("tokens")
    words = ["Durable", " streams", " of", f" {topic}"]
    for word in words[:2]:
        out.write(word)  # buffered; stored within ~50 ms and before the step's result is recorded
    if ctx.attempt == 1:
        await out.flush()  # stored now, so the failed attempt's chunks are visible (and marked)
        raise ConnectionError("the model connection dropped")
    for word in words[2:]:
        out.write(word)
    return "".join(words)


@workflow
async def poet(ctx: WorkflowContext, topic: str) -> str:
    return await write_poem(ctx, topic)


async def main() -> None:
    async with EddaApp("sqlite:///streams.db", "poems", workflows=[poet]) as app:
        instance_id = await poet.start(topic="tokens")
        cursor = 0
        async for chunk in app.follow_stream(instance_id, "tokens"):  # live, until the run ends
            print(f"seq {chunk.seq} attempt {chunk.attempt}: {chunk.data!r}")
            cursor = chunk.seq
            if cursor == 3:
                break  # the reader disconnects...
        async for chunk in app.follow_stream(instance_id, "tokens", after=cursor):  # ...and resumes
            print(f"seq {chunk.seq} attempt {chunk.attempt}: {chunk.data!r} (after reconnecting)")
        print("result:", await app.handle(instance_id).result(timeout=10))
        page = await app.read_stream(instance_id, "tokens")
        kept = "".join(c.data for c in page.chunks if c.status is ChunkStatus.COMMITTED)
        dropped = [c.data for c in page.chunks if c.status is ChunkStatus.ABANDONED]
        print(f"committed text: {kept!r}; abandoned attempt's chunks: {dropped}")


if __name__ == "__main__":
    asyncio.run(main())
