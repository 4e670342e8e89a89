"""A llama-index-core ``FunctionAgent`` with a tool, SIGKILLed during its second model request, recovers.

Before checkpoints recorded the agent's memory, the resumed run failed with ``ValueError: Path 'memory'
not found in state``. Now a second worker process continues from the last checkpoint: the tool call and
the first model request are not repeated, only the interrupted second request runs again, and the
agent's ``AgentOutput`` comes back as that type.
"""

from __future__ import annotations

import pytest

from durable_core import EddaApp, InstanceStatus
from tests.crash.programs.llamaindex_agent_worker import CATALOG
from tests.crash.support import EffectLog, wait_until
from tests.integrations.llamaindex.support import Workers

pytest.importorskip("llama_index.core", reason="llama-index-core is in the dev extra")

WORKER_MODULE = "tests.crash.programs.llamaindex_agent_worker"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_function_agent_killed_in_its_second_model_request_finishes_without_repeating_the_tool(
    db_url: str, workers: Workers
) -> None:
    effects = EffectLog(workers.log)
    first = await workers.spawn("--pause-after", "llm-2")
    async with EddaApp(db_url, "agent-client", workflows=list(CATALOG), run_workers=False) as client:
        await client.start("li_agent", {"question": "what is 2 + 3?"}, instance_id="agent-1")

        async def in_second_request() -> bool:
            return any(e.label == "llm-2" for e in effects.read())

        await wait_until(in_second_request, "the second model request", explain=workers.diagnostics)
        await first.kill()
        await workers.spawn()

        async def completed() -> bool:
            return (await client.get_instance("agent-1")).status is InstanceStatus.COMPLETED

        await wait_until(completed, "the agent run completed", explain=workers.diagnostics)
        result = await client.wait_result("agent-1", timeout=5)
    assert result == "AgentOutput: the sum is 5"
    started = [(e.label, e.pid) for e in effects.read() if e.event == "start"]
    assert [label for label, _ in started] == ["llm-1", "tool-add", "llm-2", "llm-2"]
    # everything before the kill ran in the first process; only the interrupted request ran again
    assert len({pid for _, pid in started[:3]}) == 1
    assert started[3][1] != started[2][1]
