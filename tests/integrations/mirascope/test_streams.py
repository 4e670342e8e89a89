"""Streamed durable mirascope calls write their text deltas to the instance's output stream.

A streamed agent loop streams every model request (the first call and every ``resume()``), a reader that
reconnects with its cursor misses no chunk, and mirascope's streaming idioms (``text_stream()``,
``streams()``, ``structured_stream()``) work on the recorded response.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mirascope import llm
from pydantic import BaseModel

from durable_core import Catalog, ChunkStatus, EddaApp, FakeClock, WorkflowContext, sleep, workflow
from durable_mirascope import durable_call
from durable_mirascope.testing import reply, tool_call
from tests.integrations.mirascope.support import activity_names, wake


class City(BaseModel):
    name: str
    population: int


@llm.tool
def population(city: str) -> int:
    """Population of a city."""
    return {"Oslo": 700000, "Bergen": 290000}[city]


async def _read_in_two_sessions(app: EddaApp, iid: str, first: int) -> list[str]:
    """Follow the stream, stop after ``first`` chunks, reconnect with the cursor and read the rest."""
    seen: list[str] = []
    cursor = 0
    async with asyncio.timeout(30):
        async for chunk in app.follow_stream(iid, "tokens"):
            seen.append(chunk.data)
            cursor = chunk.seq
            if len(seen) == first:
                break  # the reader goes away mid-stream...
        async for chunk in app.follow_stream(iid, "tokens", after=cursor):  # ...and comes back
            seen.append(chunk.data)
    return seen


async def test_a_streamed_agent_streams_every_turn_and_a_reconnecting_reader_misses_nothing(
    make_app, catalog: Catalog, clock: FakeClock, scripted
) -> None:
    provider, model_id = scripted(
        [
            reply("Looking both up.", tool_calls=[tool_call("population", city="Oslo")]),
            reply("And Bergen too.", tool_calls=[tool_call("population", city="Bergen")]),
            reply("Oslo has 700000 people and Bergen 290000."),
        ]
    )

    @durable_call(model_id, tools=[population])
    def ask(question: str) -> str:
        return question

    @workflow(catalog=catalog)
    async def researcher(ctx: WorkflowContext) -> str:
        result = await ask.agent(ctx, "How many people live in Oslo and Bergen?", stream_name="tokens")
        await sleep(ctx, 5)  # the replay after the timer must not stream again
        return str(result.response.text())

    app = await make_app()
    iid = await researcher.start()
    reader = asyncio.create_task(_read_in_two_sessions(app, iid, first=4))
    await wake(app, clock, iid, 6)
    assert await app.wait_result(iid, timeout=30) == "Oslo has 700000 people and Bergen 290000."
    seen = await reader
    expected = ["Looking", " both", " up.", "And", " Bergen", " too.", "Oslo", " has", " 700000", " people"]
    expected += [" and", " Bergen", " 290000."]
    assert seen == expected  # every turn streamed, nothing missed or repeated across the reconnect
    page = await app.read_stream(iid, "tokens")
    assert [c.data for c in page.chunks] == expected  # and the replay wrote nothing more
    assert {c.status for c in page.chunks} == {ChunkStatus.COMMITTED}
    assert [r.streamed for r in provider.requests] == [True, True, True]
    assert await activity_names(app, iid) == [
        "mirascope.stream:ask",
        "mirascope.tool:population",
        "mirascope.resume:ask",
        "mirascope.tool:population",
        "mirascope.resume:ask",
    ]


async def test_streaming_idioms_replay_the_recorded_response(make_app, catalog: Catalog, scripted) -> None:
    _, model_id = scripted([reply('{"name": "Oslo", "population": 700000}')])

    @durable_call(model_id, format=City)
    def describe(city: str) -> str:
        return f"Describe {city}"

    @workflow(catalog=catalog)
    async def describer(ctx: WorkflowContext) -> list[Any]:
        response = await describe.stream(ctx, "Oslo", stream_name=None)  # not written to any stream
        text = "".join([delta async for delta in response.text_stream(sep="")])
        kinds = [stream.content_type async for stream in response.streams()]
        partials = [partial async for partial in response.structured_stream()]
        chunk_types = [chunk.type async for chunk in response.chunk_stream()]
        return [text, kinds, partials[-1].name, response.parse().population, chunk_types[:3]]

    app = await make_app()
    iid = await describer.start()
    assert await app.wait_result(iid, timeout=30) == [
        '{"name": "Oslo", "population": 700000}',
        ["text"],
        "Oslo",
        700000,
        ["text_start_chunk", "text_chunk", "text_end_chunk"],
    ]
    assert (await app.read_stream(iid, "tokens")).chunks == ()
