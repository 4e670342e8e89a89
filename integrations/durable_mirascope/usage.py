"""Token usage: per call (on every response) and summed per workflow instance (from its history)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mirascope import llm

from durable_core import EddaApp, StepKind, StepOutcome
from durable_mirascope.errors import RecordedResponseError
from durable_mirascope.records import decode_usage, is_response_record


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens used by one or more model requests.

    Attributes:
        requests: how many model requests are counted.
        input_tokens: input tokens (including cache reads and writes).
        output_tokens: output tokens (including reasoning tokens).
        cache_read_tokens: input tokens read from the provider's prompt cache.
        cache_write_tokens: input tokens written to the provider's prompt cache.
        reasoning_tokens: output tokens spent on reasoning.
    """

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @classmethod
    def of(cls, usage: llm.Usage | None) -> TokenUsage:
        """Usage of one request (a request whose provider reported no usage counts with zero tokens)."""
        if usage is None:
            return cls(requests=1)
        return cls(
            requests=1,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


def usage_of(responses: Iterable[llm.RootResponse[Any, Any]]) -> TokenUsage:
    """Sum the usage of several responses."""
    total = TokenUsage()
    for response in responses:
        total += TokenUsage.of(response.usage)
    return total


async def instance_usage(app: EddaApp, instance_id: str) -> TokenUsage:
    """Sum the recorded usage of every model request in a workflow instance's history.

    Args:
        app: an initialized app on the instance's database.
        instance_id: the workflow instance.

    Raises:
        InstanceNotFoundError: no such instance.
        RecordedResponseError: the history is stored through a payload codec, so it cannot be read
            here; sum ``response.usage`` in the workflow instead (see :func:`usage_of`).
    """
    total = TokenUsage()
    for entry in await app.get_history(instance_id):
        if entry.kind is not StepKind.ACTIVITY or entry.outcome is not StepOutcome.OK:
            continue
        if not entry.name.startswith("mirascope.") or entry.name.startswith("mirascope.tool:"):
            continue
        value = entry.result.json_value
        if value is None and entry.result.blob is not None:
            raise RecordedResponseError(
                f"history of {instance_id} is stored through a payload codec; sum response.usage in the "
                "workflow (durable_mirascope.usage_of) instead"
            )
        if isinstance(value, dict) and is_response_record(value):
            total += TokenUsage.of(decode_usage(value.get("usage")))
    return total
