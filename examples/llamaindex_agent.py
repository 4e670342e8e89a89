"""A llama-index-core ``FunctionAgent`` as a durable workflow: its memory, tool calls and typed output survive.

The agent's model is llama-index-core's ``MockFunctionCallingLLM``, scripted to call the ``convert``
tool once and then answer, so the example runs offline; swap in ``OpenAI(...)`` or any LlamaIndex LLM.
Each agent step (model request, tool call, ...) is a checkpoint, so after a crash the run continues at
the step it was in, with the agent's chat memory as it was.
"""

import asyncio
import warnings
from collections.abc import Sequence
from typing import Any

from llama_index.core.agent.workflow import AgentOutput, FunctionAgent
from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.llms import ChatMessage, MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool
from pydantic.warnings import PydanticDeprecationWarning

from durable_core import EddaApp, WorkflowContext, workflow
from durable_llamaindex import DurableLlamaWorkflow

# llama-index-workflows inspects agents in a way that touches pydantic's deprecated attributes (upstream)
warnings.filterwarnings("ignore", category=PydanticDeprecationWarning)


def convert(amount: float, rate: float) -> float:
    """Convert an amount of money at an exchange rate."""
    print(f"tool convert({amount}, {rate})")
    return round(amount * rate, 2)


def scripted_model(messages: Sequence[ChatMessage], **_: Any) -> ChatMessage:
    results = [m for m in messages if m.role == "tool"]
    if not results:
        call = ToolCallBlock(
            tool_call_id="c1", tool_name="convert", tool_kwargs={"amount": 120, "rate": 0.92}
        )
        return ChatMessage(role="assistant", blocks=[call])
    return ChatMessage(role="assistant", content=f"120 USD is {results[-1].content} EUR")


def make_agent() -> FunctionAgent:
    llm = MockFunctionCallingLLM(response_generator=scripted_model)
    return FunctionAgent(tools=[FunctionTool.from_defaults(convert)], llm=llm)


CONVERTER = DurableLlamaWorkflow(make_agent, name="converter")


@workflow
async def ask_converter(ctx: WorkflowContext, question: str) -> str:
    output = await CONVERTER.run(ctx, user_msg=question)
    assert isinstance(output, AgentOutput)  # the agent's own result type, also on replay
    return str(output.response.content)


async def main() -> None:
    async with EddaApp("sqlite:///agent.db") as app:
        instance_id = await ask_converter.start(question="How much is 120 USD in EUR?")
        print(await app.wait_result(instance_id, timeout=30))
        steps = [
            e.result.json_value["step"]
            for e in await app.get_history(instance_id)
            if e.name == "converter.step"
        ]
        print(f"checkpoints: {', '.join(str(step) for step in steps)}")


if __name__ == "__main__":
    asyncio.run(main())
