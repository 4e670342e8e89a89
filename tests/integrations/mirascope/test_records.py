"""The JSON codec: every mirascope content type round-trips; responses rebuild into real objects."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from mirascope import llm
from pydantic import BaseModel

from durable_mirascope import DurableResponse, RecordedResponseError
from durable_mirascope._ops import CallSpec
from durable_mirascope.records import (
    ResponseRecord,
    decode_messages,
    decode_tool_output,
    decode_usage,
    encode_messages,
    encode_tool_output,
    encode_usage,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


class City(BaseModel):
    name: str


def _conversation() -> list[llm.Message]:
    return [
        llm.messages.system("You are terse."),
        llm.messages.user(
            [
                "Describe these.",
                llm.Image.from_bytes(PNG),
                llm.Image.from_url("https://example.invalid/cat.png"),
                llm.Document(
                    source=llm.TextDocumentSource(
                        type="text_document_source", data="doc", media_type="text/plain"
                    )
                ),
                llm.Document.from_url("https://example.invalid/a.pdf"),
                llm.Audio(
                    source=llm.Base64AudioSource(
                        type="base64_audio_source", data="AAAA", mime_type="audio/wav"
                    )
                ),
            ],
            name="ada",
        ),
        llm.messages.assistant(
            [
                llm.Thought(thought="hmm"),
                llm.Text(text="Calling a tool."),
                llm.ToolCall(id="c1", name="lookup", args='{"q": 1}'),
            ],
            model_id="p/m",
            provider_id="p",
            provider_model_name="m-2025",
            raw_message={"id": "msg_1", "nested": [1, 2]},
        ),
        llm.messages.user([llm.ToolOutput(id="c1", name="lookup", result={"rows": [1, 2]})]),
    ]


def test_messages_round_trip_through_json() -> None:
    messages = _conversation()
    encoded = json.loads(json.dumps(encode_messages(messages)))
    assert decode_messages(encoded) == messages


def test_tool_output_errors_keep_their_mirascope_type() -> None:
    failed = llm.ToolOutput(
        id="1", name="t", result="boom", error=llm.ToolExecutionError(RuntimeError("boom"))
    )
    missing = llm.ToolOutput(id="2", name="x", result="not found", error=llm.ToolNotFoundError("x"))
    rebuilt = [decode_tool_output(json.loads(json.dumps(encode_tool_output(o)))) for o in (failed, missing)]
    assert isinstance(rebuilt[0].error, llm.ToolExecutionError) and rebuilt[0].result == "boom"
    assert isinstance(rebuilt[1].error, llm.ToolNotFoundError) and rebuilt[1].error.tool_name == "x"
    with pytest.raises(llm.ToolExecutionError):
        _ = rebuilt[0].output


def test_usage_round_trips_and_none_stays_none() -> None:
    usage = llm.Usage(
        input_tokens=5,
        output_tokens=7,
        cache_read_tokens=1,
        reasoning_tokens=2,
        provider_tool_usage=[llm.ProviderToolUsage(name="web_search", call_count=2)],
        raw={"prompt_tokens": 5},
    )
    assert decode_usage(json.loads(json.dumps(encode_usage(usage)))) == usage
    assert encode_usage(None) is None and decode_usage(None) is None


def test_response_record_rebuilds_a_real_async_response() -> None:
    fmt = llm.format(City, mode="tool")
    original = llm.AsyncResponse(
        raw={"id": "resp_1"},
        provider_id="p",
        model_id="p/m",
        provider_model_name="m",
        params={"temperature": 0.3},
        tools=None,
        format=fmt,
        input_messages=[llm.messages.user("Which city?")],
        assistant_message=llm.messages.assistant(
            [llm.ToolCall(id="f", name="__mirascope_formatted_output_tool__", args='{"name": "Oslo"}')],
            model_id="p/m",
            provider_id="p",
        ),
        finish_reason=llm.FinishReason.MAX_TOKENS,
        usage=llm.Usage(input_tokens=3, output_tokens=4),
    )
    stored = json.loads(json.dumps(ResponseRecord.from_response(original, raw=original.raw).to_json()))
    assert stored["format"] == {"name": "City", "mode": "tool"}
    spec = CallSpec(label="city", model_id="p/m", params={"temperature": 0.3}, format=City)
    rebuilt = DurableResponse(ResponseRecord.from_json(stored), ctx=cast(Any, None), spec=spec)
    assert isinstance(rebuilt, llm.AsyncResponse)
    assert rebuilt.parse() == City(name="Oslo")
    assert rebuilt.format is not None and rebuilt.format.mode == "tool"
    assert rebuilt.text() == original.text() == '{"name": "Oslo"}'
    assert rebuilt.messages == original.messages
    assert rebuilt.finish_reason is llm.FinishReason.MAX_TOKENS
    assert rebuilt.usage == original.usage and rebuilt.raw == {"id": "resp_1"}
    assert rebuilt.params == {"temperature": 0.3} and rebuilt.tool_calls == []


def test_not_a_record_is_a_clear_error() -> None:
    with pytest.raises(RecordedResponseError, match="not a recorded mirascope response"):
        ResponseRecord.from_json({"answer": 42})
    with pytest.raises(RecordedResponseError, match="version 99"):
        ResponseRecord.from_json({"record": "mirascope.response", "version": 99})
    with pytest.raises(RecordedResponseError, match="unknown recorded mirascope content type 'video'"):
        decode_messages([{"role": "user", "content": [{"type": "video"}]}])
