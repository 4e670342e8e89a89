"""The durable agent loop: model -> tools -> model, until the model stops asking for tools."""

from __future__ import annotations

from dataclasses import dataclass

from durable_mirascope.errors import AgentStepLimitError
from durable_mirascope.response import DurableResponse
from durable_mirascope.usage import TokenUsage, usage_of

DEFAULT_MAX_STEPS = 10


@dataclass(frozen=True, slots=True)
class AgentResult:
    """Outcome of :func:`run_agent`.

    Attributes:
        response: the final response (no tool calls left); ``text()`` / ``parse()`` give the answer.
        steps: model requests made, including the first one.
        tool_calls: tool calls executed.
        usage: tokens used by all of the loop's model requests.
    """

    response: DurableResponse
    steps: int
    tool_calls: int
    usage: TokenUsage


async def run_agent(
    response: DurableResponse, *, max_steps: int = DEFAULT_MAX_STEPS, parallel_tools: bool = True
) -> AgentResult:
    """Drive a conversation to its end: while the model asks for tools, run them and resume.

    Every model request and every tool call is its own activity, so after a crash the loop replays the
    recorded ones and continues with the first unrecorded step. Call it from a workflow body.

    Args:
        response: the first response (e.g. from a :class:`~durable_mirascope.DurableCall`).
        max_steps: most model requests the loop may make in total (the first one included).
        parallel_tools: run the tool calls of one response concurrently (default, as mirascope does;
            False runs them one after another).

    Raises:
        AgentStepLimitError: the model still asked for tools after ``max_steps`` requests.
        ValueError: ``max_steps`` is smaller than 1.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    responses = [response]
    tool_calls = 0
    while response.tool_calls:
        if len(responses) >= max_steps:
            names = ", ".join(call.name for call in response.tool_calls)
            raise AgentStepLimitError(
                f"agent {response.label!r} reached max_steps={max_steps} and the model still asks for "
                f"tools ({names})"
            )
        outputs = await response.execute_tools(parallel=parallel_tools)
        tool_calls += len(outputs)
        response = await response.resume(outputs)
        responses.append(response)
    return AgentResult(
        response=response, steps=len(responses), tool_calls=tool_calls, usage=usage_of(responses)
    )
