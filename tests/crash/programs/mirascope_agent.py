"""Crash-test program: a durable mirascope agent making 4 calls (model, tool, tool, model).

``python -m tests.crash.programs.mirascope_agent --db URL --calls PATH --instance ID [--hold CITY]``

Starts (or adopts) the instance ``ID`` of ``weather_agent`` and prints ``ready <worker id>``, then
``result <json>`` once it completed. The scripted model first asks for ``lookup`` of Oslo and Bergen
(run one after the other), then answers from the tool outputs. Every provider request and every tool
execution appends a line to the calls file (fsynced): ``model <turn> <pid>``, ``tool-start <city> <pid>``,
``tool-done <city> <pid>``. With ``--hold CITY`` that tool call never finishes here, so the test can
SIGKILL the process after the first two calls were recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from mirascope import llm

from durable_core import EddaApp, WorkflowContext, workflow
from durable_mirascope import durable_call
from durable_mirascope.testing import ScriptedProvider, ScriptedReply, ScriptedRequest, reply, tool_call

TEMPERATURES = {"Oslo": 12, "Bergen": 9}


class Settings:
    """Per-process settings (set once from the command line before the app starts)."""

    calls: Path = Path("calls.log")
    hold: str | None = None


def note(line: str) -> None:
    """Append one line to the calls file, durably (it must survive the SIGKILL)."""
    fd = os.open(Settings.calls, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line} {os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def script(request: ScriptedRequest) -> ScriptedReply:
    """Turn 0: look up both cities. Turn 1: answer from the tool outputs in the conversation."""
    note(f"model {request.turn}")
    if request.turn == 0:
        return reply(
            "Looking up both cities.",
            tool_calls=[tool_call("lookup", city="Oslo"), tool_call("lookup", city="Bergen")],
            input_tokens=20,
            output_tokens=10,
        )
    outputs = [p.result for p in request.messages[-1].content if isinstance(p, llm.ToolOutput)]
    return reply("Forecast: " + "; ".join(str(o) for o in outputs), input_tokens=50, output_tokens=12)


@llm.tool
async def lookup(city: str) -> str:
    """Current temperature of a city."""
    note(f"tool-start {city}")
    if city == Settings.hold:
        await asyncio.Event().wait()  # never finishes in this process: the test SIGKILLs it here
    note(f"tool-done {city}")
    return f"{city} {TEMPERATURES[city]}C"


@durable_call("crash-scripted/weather", tools=[lookup])
def forecast(question: str) -> str:
    return question


@workflow
async def weather_agent(ctx: WorkflowContext, question: str) -> dict[str, Any]:
    result = await forecast.agent(ctx, question, max_steps=4)
    return {"answer": result.response.text(), "steps": result.steps, "tokens": result.usage.total_tokens}


async def main(args: argparse.Namespace) -> None:
    """Run (or recover) the instance and print its result."""
    Settings.calls = Path(args.calls)
    Settings.hold = args.hold
    llm.register_provider(ScriptedProvider(script), scope="crash-scripted/")
    app = EddaApp(args.db, "mirascope-crash", workflows=[weather_agent], lease_ttl=1.5, poll_interval=0.1)
    await app.initialize()
    try:
        print("ready", app.worker_id, flush=True)
        iid = await app.start(
            weather_agent, {"question": "Weather in Oslo and Bergen?"}, instance_id=args.instance
        )
        result = await app.wait_result(iid, timeout=60)
        print("result", json.dumps(result, sort_keys=True), flush=True)
    finally:
        await app.shutdown()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--calls", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--hold", default=None)
    asyncio.run(main(parser.parse_args()))
