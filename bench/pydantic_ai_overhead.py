"""Durability overhead of a pydantic-ai agent: durable (EddaDurability in a workflow) vs plain ``agent.run``.

The model is an instant ``FunctionModel`` and the tool returns at once, so the difference is the cost of
recording each step. Three scenarios, each run ``--runs`` times sequentially:

* ``single``: one model request, no tools;
* ``chain``: ``k`` turns of one tool call each (``k + 1`` requests, ``k`` tool calls);
* ``fanout``: one turn calling ``k`` tools (2 requests, ``k`` tool calls).

With ``O`` = durable minus plain time per run: ``O_chain - O_fanout = (k - 1) * request`` and
``O_fanout - O_single = request + k * tool``, which gives the overhead per model request and per tool call
(the per-workflow cost, start + result, cancels out). Each time is the fastest of ``--runs`` runs.

    .venv/bin/python bench/pydantic_ai_overhead.py [--db sqlite|postgresql] [--runs 30] [--k 5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from durable_core import Catalog, EddaApp, WorkflowContext, workflow
from durable_pydantic_ai import EddaDurability

CATALOG = Catalog()
K = 5


def _returns(messages: list[ModelMessage]) -> int:
    return sum(isinstance(p, ToolReturnPart) for m in messages for p in m.parts)


def single(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("done")])


def chain(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    done = _returns(messages)
    if done < K:
        return ModelResponse(parts=[ToolCallPart("ping", {"n": done}, tool_call_id=f"c{done}")])
    return ModelResponse(parts=[TextPart("done")])


def fanout(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if _returns(messages) == 0:
        return ModelResponse(parts=[ToolCallPart("ping", {"n": i}, tool_call_id=f"f{i}") for i in range(K)])
    return ModelResponse(parts=[TextPart("done")])


def ping(n: int) -> int:
    """Return at once."""
    return n


SCENARIOS = {"single": single, "chain": chain, "fanout": fanout}
PLAIN = {name: Agent(FunctionModel(fn), name=f"plain_{name}", tools=[ping]) for name, fn in SCENARIOS.items()}
DURABLE = {
    name: Agent(FunctionModel(fn), name=f"durable_{name}", tools=[ping], capabilities=[EddaDurability()])
    for name, fn in SCENARIOS.items()
}


@workflow(catalog=CATALOG)
async def run_agent(ctx: WorkflowContext, scenario: str) -> str:
    return (await DURABLE[scenario].run("go")).output


async def _timed(runs: int, once: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(5):  # warm-up (imports, connection pool, statement caches)
        await once()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await once()
        samples.append(time.perf_counter() - start)
    return min(samples)  # the least disturbed run: the machine may be shared


async def main() -> None:
    global K
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--k", type=int, default=K)
    args = parser.parse_args()
    K = args.k
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}" if args.db == "sqlite" else args.pg_url
        async with EddaApp(url, f"bench-{uuid.uuid4().hex[:6]}", workflows=list(CATALOG)) as app:
            overhead: dict[str, float] = {}
            for name in SCENARIOS:
                plain = await _timed(args.runs, lambda n=name: PLAIN[n].run("go"))  # type: ignore[misc]

                async def durable(n: str = name) -> Any:
                    return await app.wait_result(await run_agent.start(scenario=n), timeout=60)

                durable_s = await _timed(args.runs, durable)
                overhead[name] = durable_s - plain
                print(f"{name:7s} plain {plain * 1e3:7.2f} ms  durable {durable_s * 1e3:7.2f} ms")
            turn = (overhead["chain"] - overhead["single"]) / K  # one request + one tool call
            request = (overhead["chain"] - overhead["fanout"]) / (K - 1)
            tool = (overhead["fanout"] - overhead["single"] - request) / K
            print(f"overhead per turn (1 model request + 1 tool call): {turn * 1e3:.2f} ms")
            print(f"split: per model request {request * 1e3:.2f} ms; per tool call {tool * 1e3:.2f} ms")
            print(f"per workflow (start + one request + result): {overhead['single'] * 1e3:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
