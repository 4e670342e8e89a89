"""mirascope's streaming idioms on a recorded response: ``streams()``, ``text_stream()``, ...

A durable response is finished by the time the workflow sees it (the model streamed inside the activity,
to the durable output stream; see ``docs/streams.md``). To keep code written for
``llm.AsyncStreamResponse`` working, :func:`replayed_stream` rebuilds one from the recorded content: its
chunks are the recorded parts (one delta per part), so ``streams()``, ``text_stream()``,
``structured_stream()``, ``chunk_stream()`` and ``pretty_stream()`` yield what the live stream added up
to - the same on every replay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from mirascope import llm
from mirascope.llm import content as mc
from mirascope.llm.responses import FinishReasonChunk, StreamResponseChunk, UsageDeltaChunk

__all__ = ["replayed_stream"]


def _part_chunks(part: Any) -> list[StreamResponseChunk]:
    if isinstance(part, mc.Text):
        return [mc.TextStartChunk(), mc.TextChunk(delta=part.text), mc.TextEndChunk()]
    if isinstance(part, mc.Thought):
        return [mc.ThoughtStartChunk(), mc.ThoughtChunk(delta=part.thought), mc.ThoughtEndChunk()]
    if isinstance(part, mc.ToolCall):
        return [
            mc.ToolCallStartChunk(id=part.id, name=part.name),
            mc.ToolCallChunk(id=part.id, delta=part.args),
            mc.ToolCallEndChunk(id=part.id),
        ]
    return []  # parts no stream carries (provider-specific blocks) stay in the response's messages


def replayed_stream(response: llm.AsyncResponse) -> llm.AsyncStreamResponse:
    """An ``llm.AsyncStreamResponse`` that streams ``response``'s recorded content."""
    chunks: list[StreamResponseChunk] = []
    for part in response.content:
        chunks.extend(_part_chunks(part))
    if response.usage is not None:
        chunks.append(
            UsageDeltaChunk(
                input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens
            )
        )
    if response.finish_reason is not None:
        chunks.append(FinishReasonChunk(finish_reason=response.finish_reason))

    async def iterate() -> AsyncIterator[StreamResponseChunk]:
        for chunk in chunks:
            yield chunk

    return llm.AsyncStreamResponse(
        provider_id=response.provider_id,
        model_id=response.model_id,
        provider_model_name=response.provider_model_name,
        params=response.params,
        tools=response.toolkit,
        format=response.format,
        input_messages=response.messages[:-1],
        chunk_iterator=iterate(),
    )
