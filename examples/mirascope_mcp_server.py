"""An MCP server whose durable tool is a mirascope research agent (model -> search tool -> model).

Serve it to an MCP host over stdio or streamable HTTP:

    edda-mcp serve examples/mirascope_mcp_server.py:server
    edda-mcp serve examples/mirascope_mcp_server.py:server --transport http --port 8000

`research` starts the agent and returns an instance id at once; `research_status` and `research_result`
follow it. Every model request and search is a recorded step, so a server that crashes mid-research
resumes where it stopped. Run this file directly for a short in-process session with an MCP client.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from mcp import Client
from mirascope import llm
from pydantic import BaseModel

from durable_core import WorkflowContext
from durable_mirascope import durable_call
from durable_mirascope.testing import ScriptedProvider, ScriptedReply, ScriptedRequest, reply, tool_call
from edda_mcp import EddaMCPServer


def scripted_model(request: ScriptedRequest) -> ScriptedReply:
    """An offline stand-in for a real model: search twice, then summarize the search results."""
    if request.turn == 0:
        topic = request.last_user_text.removeprefix("Research: ")
        return reply(
            tool_calls=[tool_call("search", query=topic), tool_call("search", query=f"{topic} risks")]
        )
    found = [str(part.result) for part in request.messages[-1].content if isinstance(part, llm.ToolOutput)]
    summary = {"summary": f"{len(found)} searches done", "sources": found}
    return reply(json.dumps(summary), input_tokens=200, output_tokens=40)


# With an API key, drop this line and use a real model id below (e.g. "openai/gpt-5-mini").
llm.register_provider(ScriptedProvider(scripted_model), scope="scripted/")

server = EddaMCPServer(
    "Research Agent",
    db_url="sqlite:///research.db",
    instructions="Start research with `research`; follow it with research_status / research_result.",
    start_wait_seconds=0,
)


class Findings(BaseModel):
    summary: str
    sources: list[str]


class ResearchReport(BaseModel):
    topic: str
    summary: str
    sources: list[str]
    model_requests: int
    tokens: int


@llm.tool
def search(query: str) -> str:
    """Search the web for a query."""
    return f"top result for {query!r}"


@durable_call("scripted/researcher", tools=[search], format=Findings)
def research_topic(topic: str) -> str:
    return f"Research: {topic}"


@server.durable_tool(description="Research a topic with a durable LLM agent that can search the web")
async def research(ctx: WorkflowContext, topic: str) -> ResearchReport:
    result = await research_topic.agent(ctx, topic, max_steps=5)
    findings = result.response.parse()
    return ResearchReport(
        topic=topic,
        summary=findings.summary,
        sources=findings.sources,
        model_requests=result.steps,
        tokens=result.usage.total_tokens,
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local = EddaMCPServer("Research Agent", db_url=f"sqlite:///{Path(tmp) / 'research.db'}")
        local.durable_tool(research, wait_seconds=10)
        async with Client(local.mcp) as client:
            tools = await client.list_tools()
            print("tools:", ", ".join(sorted(t.name for t in tools.tools)))
            started = await client.call_tool("research", {"topic": "durable agents"})
            data = started.structured_content or {}
            print(f"research -> {data['status']}")
            for key, value in data["result"].items():
                print(f"  {key}: {value}")


if __name__ == "__main__":
    asyncio.run(main())
