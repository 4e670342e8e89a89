"""JSON form of mirascope messages, responses and tool outputs (what the history stores).

Everything here is plain data: code objects (tools, formats, output parsers) are never written. They are
re-attached from the workflow code when a record is rebuilt (see :mod:`durable_mirascope.response`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, Union, cast

from mirascope import llm
from mirascope.llm import content as mc
from pydantic_core import to_jsonable_python

from durable_mirascope.errors import RecordedResponseError

JsonValue: TypeAlias = Union[str, int, float, bool, list["JsonValue"], dict[str, "JsonValue"], None]  # noqa: UP007

RECORD_VERSION = 1
RESPONSE_MARKER = "mirascope.response"
TOOL_OUTPUT_MARKER = "mirascope.tool_output"

# Content classes that are plain dataclasses of JSON scalars (plus a nested ``source``), by ``type`` tag.
_PLAIN_TYPES: dict[str, type[Any]] = {
    "text": mc.Text,
    "thought": mc.Thought,
    "tool_call": mc.ToolCall,
    "image": mc.Image,
    "audio": mc.Audio,
    "document": mc.Document,
    "base64_image_source": mc.Base64ImageSource,
    "url_image_source": mc.URLImageSource,
    "base64_audio_source": mc.Base64AudioSource,
    "base64_document_source": mc.Base64DocumentSource,
    "text_document_source": mc.TextDocumentSource,
    "url_document_source": mc.URLDocumentSource,
}


def jsonable(value: Any) -> JsonValue:
    """Best-effort JSON form of provider data (raw responses, raw usage); ``None`` when impossible."""
    try:
        return cast(JsonValue, to_jsonable_python(value, bytes_mode="base64"))
    except Exception:  # provider objects of unknown shape are optional diagnostics, never required
        return None


# -- content parts ---------------------------------------------------------------------------------
def encode_part(part: Any) -> dict[str, JsonValue]:
    """JSON form of one content part (text, thought, tool call/output, image, audio, document)."""
    if isinstance(part, mc.ToolOutput):
        return encode_tool_output(part)
    tag = getattr(part, "type", None)
    if tag not in _PLAIN_TYPES or not dataclasses.is_dataclass(part):
        raise RecordedResponseError(f"cannot record mirascope content of type {type(part).__name__}")
    data: dict[str, JsonValue] = {}
    for field in dataclasses.fields(part):
        value = getattr(part, field.name)
        data[field.name] = encode_part(value) if dataclasses.is_dataclass(value) else value
    return data


def decode_part(data: Mapping[str, Any]) -> Any:
    """Rebuild a content part from :func:`encode_part`'s output."""
    tag = data.get("type")
    if tag == "tool_output":
        return decode_tool_output(data)
    cls = _PLAIN_TYPES.get(str(tag))
    if cls is None:
        raise RecordedResponseError(f"unknown recorded mirascope content type {tag!r}")
    kwargs = {key: decode_part(value) if key == "source" else value for key, value in data.items()}
    return cls(**kwargs)


def encode_tool_output(output: mc.ToolOutput[Any]) -> dict[str, JsonValue]:
    """JSON form of a tool output; the error object becomes its kind and message."""
    error: JsonValue = None
    if output.error is not None:
        kind = "not_found" if isinstance(output.error, llm.ToolNotFoundError) else "execution"
        error = {"kind": kind, "message": str(output.error)}
    return {
        "type": "tool_output",
        "id": output.id,
        "name": output.name,
        "result": jsonable(output.result),
        "error": error,
    }


def decode_tool_output(data: Mapping[str, Any]) -> mc.ToolOutput[Any]:
    """Rebuild a ``ToolOutput`` (with a ``ToolNotFoundError`` or ``ToolExecutionError`` when it failed)."""
    error_data = data.get("error")
    error: llm.ToolError | None = None
    if isinstance(error_data, Mapping):
        if error_data.get("kind") == "not_found":
            error = llm.ToolNotFoundError(str(data["name"]))
        else:
            error = llm.ToolExecutionError(str(error_data.get("message", "")))
    return mc.ToolOutput(id=data["id"], name=data["name"], result=data.get("result"), error=error)


# -- messages --------------------------------------------------------------------------------------
def encode_message(message: llm.Message) -> dict[str, JsonValue]:
    """JSON form of a system, user or assistant message."""
    if isinstance(message, llm.SystemMessage):
        return {"role": "system", "content": encode_part(message.content)}
    if isinstance(message, llm.UserMessage):
        return {
            "role": "user",
            "content": [encode_part(part) for part in message.content],
            "name": message.name,
        }
    if isinstance(message, llm.AssistantMessage):
        return {
            "role": "assistant",
            "content": [encode_part(part) for part in message.content],
            "name": message.name,
            "provider_id": message.provider_id,
            "model_id": message.model_id,
            "provider_model_name": message.provider_model_name,
            "raw_message": jsonable(message.raw_message),
        }
    raise RecordedResponseError(f"cannot record a message of type {type(message).__name__}")


def decode_message(data: Mapping[str, Any]) -> llm.Message:
    """Rebuild a message from :func:`encode_message`'s output."""
    role = data.get("role")
    if role == "system":
        return llm.SystemMessage(content=decode_part(data["content"]))
    if role == "user":
        return llm.UserMessage(content=[decode_part(p) for p in data["content"]], name=data.get("name"))
    if role == "assistant":
        return decode_assistant(data)
    raise RecordedResponseError(f"unknown recorded message role {role!r}")


def decode_assistant(data: Mapping[str, Any]) -> llm.AssistantMessage:
    """Rebuild an assistant message."""
    return llm.AssistantMessage(
        content=[decode_part(p) for p in data["content"]],
        name=data.get("name"),
        provider_id=data.get("provider_id"),
        model_id=data.get("model_id"),
        provider_model_name=data.get("provider_model_name"),
        raw_message=data.get("raw_message"),
    )


def encode_messages(messages: Sequence[llm.Message]) -> list[JsonValue]:
    """JSON form of a conversation."""
    return [encode_message(m) for m in messages]


def decode_messages(data: Sequence[Any]) -> list[llm.Message]:
    """Rebuild a conversation."""
    return [decode_message(m) for m in data]


# -- usage -----------------------------------------------------------------------------------------
def encode_usage(usage: llm.Usage | None) -> JsonValue:
    """JSON form of token usage (``None`` when the provider reported none)."""
    if usage is None:
        return None
    tools = usage.provider_tool_usage
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "provider_tool_usage": None if tools is None else [jsonable(dataclasses.asdict(t)) for t in tools],
        "raw": jsonable(usage.raw),
    }


def decode_usage(data: Any) -> llm.Usage | None:
    """Rebuild token usage (``None`` when none was recorded)."""
    if not isinstance(data, Mapping):
        return None
    tools = data.get("provider_tool_usage")
    return llm.Usage(
        input_tokens=int(data.get("input_tokens", 0)),
        output_tokens=int(data.get("output_tokens", 0)),
        cache_read_tokens=int(data.get("cache_read_tokens", 0)),
        cache_write_tokens=int(data.get("cache_write_tokens", 0)),
        reasoning_tokens=int(data.get("reasoning_tokens", 0)),
        provider_tool_usage=None if tools is None else [llm.ProviderToolUsage(**t) for t in tools],
        raw=data.get("raw"),
    )


# -- responses -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FormatInfo:
    """Which structured-output format a response was generated with (the class itself is not stored)."""

    name: str
    mode: str


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """A model response as recorded in history (JSON in, JSON out)."""

    provider_id: str
    model_id: str
    provider_model_name: str
    params: dict[str, JsonValue]
    input_messages: list[JsonValue]
    assistant_message: dict[str, JsonValue]
    finish_reason: str | None
    usage: JsonValue
    format: FormatInfo | None
    raw: JsonValue = None

    @classmethod
    def from_response(cls, response: llm.RootResponse[Any, Any], *, raw: Any = None) -> ResponseRecord:
        """Record a (finished) mirascope response or stream response."""
        fmt = response.format
        *inputs, assistant = response.messages
        if not isinstance(assistant, llm.AssistantMessage):
            raise RecordedResponseError("a response must end with an assistant message")
        return cls(
            provider_id=str(response.provider_id),
            model_id=str(response.model_id),
            provider_model_name=str(getattr(response, "provider_model_name", "") or ""),
            params=cast(dict[str, JsonValue], jsonable(dict(response.params)) or {}),
            input_messages=encode_messages(inputs),
            assistant_message=encode_message(assistant),
            finish_reason=None if response.finish_reason is None else response.finish_reason.value,
            usage=encode_usage(response.usage),
            format=None if fmt is None else FormatInfo(name=fmt.name, mode=str(fmt.mode)),
            raw=jsonable(raw),
        )

    def to_json(self) -> dict[str, JsonValue]:
        """The JSON object stored as the activity's result."""
        return {
            "record": RESPONSE_MARKER,
            "version": RECORD_VERSION,
            "provider_id": self.provider_id,
            "model_id": self.model_id,
            "provider_model_name": self.provider_model_name,
            "params": dict(self.params),
            "input_messages": list(self.input_messages),
            "assistant_message": dict(self.assistant_message),
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "format": None if self.format is None else {"name": self.format.name, "mode": self.format.mode},
            "raw": self.raw,
        }

    @classmethod
    def from_json(cls, data: Any) -> ResponseRecord:
        """Parse a stored record.

        Raises:
            RecordedResponseError: the value is not a response record of a supported version.
        """
        if not is_response_record(data):
            raise RecordedResponseError(f"not a recorded mirascope response: {str(data)[:200]}")
        if data.get("version") != RECORD_VERSION:
            raise RecordedResponseError(
                f"unsupported mirascope response record version {data.get('version')}"
            )
        fmt = data.get("format")
        return cls(
            provider_id=data["provider_id"],
            model_id=data["model_id"],
            provider_model_name=data.get("provider_model_name", ""),
            params=dict(data.get("params") or {}),
            input_messages=list(data["input_messages"]),
            assistant_message=dict(data["assistant_message"]),
            finish_reason=data.get("finish_reason"),
            usage=data.get("usage"),
            format=None if fmt is None else FormatInfo(name=fmt["name"], mode=fmt["mode"]),
            raw=data.get("raw"),
        )


def is_response_record(data: Any) -> bool:
    """Whether a stored JSON value is a recorded mirascope response."""
    return isinstance(data, Mapping) and data.get("record") == RESPONSE_MARKER
