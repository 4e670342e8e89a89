"""A pydantic-ai agent whose model requests share an app rate limit (2 per second here).

Every model request takes a grant of the `RateLimit` named "llm" before it is sent. The first two go at
once; the third finds the limit used up, so the workflow parks (no worker is held) and resumes when the
next grant is free, replaying the two recorded requests. Use `RateLimit(500, per=timedelta(minutes=1))`
for a provider's requests per minute: the limit lives in the database and holds across processes.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from durable_core import EddaApp, RateLimit, WorkflowContext, workflow
from durable_pydantic_ai import EddaDurability

sent_at: list[float] = []


def echo_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Scripted model: answer at once and note when the request was sent."""
    sent_at.append(time.monotonic())
    return ModelResponse(parts=[TextPart(f"answer {len(sent_at)}")])


agent = Agent(FunctionModel(echo_model), name="paced", capabilities=[EddaDurability(rate_limit="llm")])


@workflow
async def three_questions(ctx: WorkflowContext) -> list[str]:
    return [(await agent.run(f"question {n}")).output for n in (1, 2, 3)]


async def main() -> None:
    limits = {"llm": RateLimit(2, per=timedelta(seconds=1))}
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'paced.db'}"
        async with EddaApp(db, "paced", workflows=[three_questions], rate_limits=limits) as app:
            iid = await three_questions.start()
            print("result:", await app.wait_result(iid, timeout=60))
    print("model requests sent:", len(sent_at))
    waited = sent_at[2] - sent_at[0]
    print("the third request waited for a grant:", "yes" if waited >= 0.75 else f"no ({waited:.2f} s)")


if __name__ == "__main__":
    asyncio.run(main())
