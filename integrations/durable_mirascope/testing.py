"""A scripted mirascope provider for offline tests and examples (no network, no API key).

Register it like any mirascope provider; model ids under its scope (``"scripted/..."`` by default) are
then answered from the script::

    provider = ScriptedProvider([reply(tool_calls=[tool_call("search", query="edda")]), reply("done")])
    llm.register_provider(provider, scope="scripted/")

A sequence script is served by conversation turn (the number of assistant messages already in the
request), so a recovered process that resumes a conversation gets the same reply a fresh one would.
A callable script receives the :class:`ScriptedRequest` and returns the reply.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mirascope import llm
from mirascope.llm import content as mc
from mirascope.llm.formatting import resolve_format
from mirascope.llm.providers import BaseProvider
from mirascope.llm.responses import FinishReasonChunk, StreamResponseChunk, UsageDeltaChunk


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    """A tool call the scripted model makes (``id`` defaults to ``call_<turn>_<index>``)."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """What the scripted model answers to one request."""

    text: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    input_tokens: int = 10
    output_tokens: int = 5
    finish_reason: llm.FinishReason | None = None


def reply(
    text: str | None = None,
    *,
    tool_calls: Sequence[ScriptedToolCall] = (),
    input_tokens: int = 10,
    output_tokens: int = 5,
    finish_reason: llm.FinishReason | None = None,
) -> ScriptedReply:
    """Build a :class:`ScriptedReply` (text and/or tool calls, with the usage to report)."""
    return ScriptedReply(text, tuple(tool_calls), input_tokens, output_tokens, finish_reason)


def tool_call(name: str, /, **args: Any) -> ScriptedToolCall:
    """Build a :class:`ScriptedToolCall` for tool ``name`` with keyword ``args``."""
    return ScriptedToolCall(name, dict(args))


@dataclass(frozen=True, slots=True)
class ScriptedRequest:
    """One request the provider received."""

    model_id: str
    messages: tuple[llm.Message, ...]
    tool_names: tuple[str, ...]
    format_name: str | None
    params: Mapping[str, Any]
    streamed: bool

    @property
    def turn(self) -> int:
        """How many assistant messages the conversation already holds."""
        return sum(isinstance(m, llm.AssistantMessage) for m in self.messages)

    @property
    def last_user_text(self) -> str:
        """Text of the last user message (empty when it holds no text)."""
        for message in reversed(self.messages):
            if isinstance(message, llm.UserMessage):
                return "\n".join(p.text for p in message.content if isinstance(p, mc.Text))
        return ""


Script = Sequence[ScriptedReply] | Callable[[ScriptedRequest], ScriptedReply]


class ScriptedProvider(BaseProvider):  # type: ignore[misc]  # mirascope ships no type information
    """A real mirascope provider whose "model" answers from a script.

    Args:
        script: replies served by conversation turn, or a function of the request.
        on_request: called with each request before it is answered (e.g. to count calls).
    """

    id: ClassVar[str] = "scripted"
    default_scope: ClassVar[str | list[str]] = "scripted/"
    error_map: ClassVar[Mapping[type[Exception], Any]] = {}

    def __init__(
        self, script: Script, *, on_request: Callable[[ScriptedRequest], None] | None = None
    ) -> None:
        self.client = None
        self._script = script
        self._on_request = on_request
        self.requests: list[ScriptedRequest] = []

    def get_error_status(self, e: Exception) -> int | None:
        """Scripted requests have no HTTP status."""
        return None

    # -- answering ---------------------------------------------------------------------------------
    def _answer(
        self,
        model_id: str,
        messages: Sequence[llm.Message],
        toolkit: Any,
        format: Any,
        params: Mapping[str, Any],
        streamed: bool,
    ) -> tuple[ScriptedReply, int]:
        request = ScriptedRequest(
            model_id=model_id,
            messages=tuple(messages),
            tool_names=tuple(t.name for t in toolkit.tools),
            format_name=None if format is None else resolve_format(format, "json").name,
            params=dict(params),
            streamed=streamed,
        )
        self.requests.append(request)
        if self._on_request is not None:
            self._on_request(request)
        if callable(self._script):
            return self._script(request), request.turn
        if request.turn >= len(self._script):
            raise llm.BadRequestError(
                f"scripted model has {len(self._script)} replies but got a request for turn {request.turn}",
                provider=self.id,
            )
        return self._script[request.turn], request.turn

    @staticmethod
    def _calls(scripted: ScriptedReply, turn: int) -> list[mc.ToolCall]:
        return [
            mc.ToolCall(id=c.id or f"call_{turn}_{i}", name=c.name, args=json.dumps(dict(c.args)))
            for i, c in enumerate(scripted.tool_calls)
        ]

    def _response_kwargs(
        self, model_id: str, messages: Sequence[llm.Message], format: Any, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "provider_id": self.id,
            "model_id": model_id,
            "provider_model_name": model_id.split("/", 1)[1],
            "params": dict(params),
            "format": resolve_format(format, "json"),
            "input_messages": list(messages),
        }

    def _build(self, scripted: ScriptedReply, turn: int, model_id: str) -> dict[str, Any]:
        content: list[mc.AssistantContentPart] = []
        if scripted.text is not None:
            content.append(mc.Text(text=scripted.text))
        content.extend(self._calls(scripted, turn))
        message = llm.messages.assistant(
            content, model_id=model_id, provider_id=self.id, raw_message={"turn": turn}
        )
        return {
            "raw": {"scripted": True, "turn": turn},
            "assistant_message": message,
            "finish_reason": scripted.finish_reason,
            "usage": llm.Usage(input_tokens=scripted.input_tokens, output_tokens=scripted.output_tokens),
        }

    def _chunks(self, scripted: ScriptedReply, turn: int) -> list[StreamResponseChunk]:
        chunks: list[StreamResponseChunk] = []
        if scripted.text is not None:
            chunks.append(mc.TextStartChunk())
            words = scripted.text.split(" ")
            chunks.extend(mc.TextChunk(delta=w if i == 0 else " " + w) for i, w in enumerate(words))
            chunks.append(mc.TextEndChunk())
        for call in self._calls(scripted, turn):
            chunks.append(mc.ToolCallStartChunk(id=call.id, name=call.name))
            chunks.append(mc.ToolCallChunk(id=call.id, delta=call.args))
            chunks.append(mc.ToolCallEndChunk(id=call.id))
        chunks.append(
            UsageDeltaChunk(input_tokens=scripted.input_tokens, output_tokens=scripted.output_tokens)
        )
        if scripted.finish_reason is not None:
            chunks.append(FinishReasonChunk(finish_reason=scripted.finish_reason))
        return chunks

    # -- BaseProvider ------------------------------------------------------------------------------
    def _call(
        self,
        *,
        model_id: str,
        messages: Sequence[llm.Message],
        toolkit: Any,
        format: Any = None,
        **params: Any,
    ) -> Any:
        scripted, turn = self._answer(model_id, messages, toolkit, format, params, streamed=False)
        kwargs = self._response_kwargs(model_id, messages, format, params)
        return llm.Response(tools=toolkit, **kwargs, **self._build(scripted, turn, model_id))

    async def _call_async(
        self,
        *,
        model_id: str,
        messages: Sequence[llm.Message],
        toolkit: Any,
        format: Any = None,
        **params: Any,
    ) -> Any:
        scripted, turn = self._answer(model_id, messages, toolkit, format, params, streamed=False)
        kwargs = self._response_kwargs(model_id, messages, format, params)
        return llm.AsyncResponse(tools=toolkit, **kwargs, **self._build(scripted, turn, model_id))

    def _stream(
        self,
        *,
        model_id: str,
        messages: Sequence[llm.Message],
        toolkit: Any,
        format: Any = None,
        **params: Any,
    ) -> Any:
        scripted, turn = self._answer(model_id, messages, toolkit, format, params, streamed=True)
        chunks = self._chunks(scripted, turn)

        def iterate() -> Iterator[StreamResponseChunk]:
            yield from chunks

        kwargs = self._response_kwargs(model_id, messages, format, params)
        return llm.StreamResponse(tools=toolkit, chunk_iterator=iterate(), **kwargs)

    async def _stream_async(
        self,
        *,
        model_id: str,
        messages: Sequence[llm.Message],
        toolkit: Any,
        format: Any = None,
        **params: Any,
    ) -> Any:
        scripted, turn = self._answer(model_id, messages, toolkit, format, params, streamed=True)
        chunks = self._chunks(scripted, turn)

        async def iterate() -> AsyncIterator[StreamResponseChunk]:
            for chunk in chunks:
                yield chunk

        kwargs = self._response_kwargs(model_id, messages, format, params)
        return llm.AsyncStreamResponse(tools=toolkit, chunk_iterator=iterate(), **kwargs)

    def _unsupported(self) -> llm.FeatureNotSupportedError:
        return llm.FeatureNotSupportedError("context calls", provider_id=self.id)

    def _context_call(self, **kwargs: Any) -> Any:
        raise self._unsupported()

    async def _context_call_async(self, **kwargs: Any) -> Any:
        raise self._unsupported()

    def _context_stream(self, **kwargs: Any) -> Any:
        raise self._unsupported()

    async def _context_stream_async(self, **kwargs: Any) -> Any:
        raise self._unsupported()
