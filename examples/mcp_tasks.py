"""The MCP tasks extension: a durable tool call answered with a task that outlives the request.

A 2026-07-28 client that declares ``io.modelcontextprotocol/tasks`` gets a task whose id is the workflow
instance; it polls ``tasks/get``, answers ``input_required`` with ``tasks/update``, and reads the result.
``edda_mcp.task_client.TasksClient`` does that inside ``client.call_tool``.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from mcp import Client
from pydantic import BaseModel

from durable_core import WorkflowContext, activity, wait_event
from edda_mcp import EddaMCPServer
from edda_mcp.task_client import TasksClient


class Answer(BaseModel):
    region: str


@activity
async def provision(ctx: WorkflowContext, name: str, region: str) -> str:
    return f"{name}.{region}.example.net"


async def create_cluster(ctx: WorkflowContext, name: str) -> str:
    answer = await wait_event(ctx, "region", model=Answer)
    assert isinstance(answer.data, Answer)
    return await provision(ctx, name, answer.data.region)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EddaMCPServer("Clusters", db_url=f"sqlite:///{Path(tmp) / 'clusters.db'}")
        server.durable_tool(
            create_cluster, description="Create a cluster (asks for the region)", human_input=True
        )

        async def choose_region(key: str, params: dict[str, Any]) -> dict[str, Any]:
            print(f"input_required {key.split('@')[0]}: {params['message'].split(' (')[0]}")
            return {"region": "eu-north"}

        tasks = TasksClient(
            choose_region, max_poll_seconds=0.1, on_created=lambda t: print(f"task created: {len(t)}-char id")
        )
        async with Client(server.mcp, mode="2026-07-28", extensions=[tasks]) as client:
            result = await client.call_tool("create_cluster", {"name": "db1"})
            print(f"task completed: {(result.structured_content or {})['result']}")
        async with Client(server.mcp, mode="legacy") as legacy:
            plain = await legacy.call_tool("create_cluster", {"name": "db2"})
            print(f"without the extension: {(plain.structured_content or {})['status']}, no task")


if __name__ == "__main__":
    asyncio.run(main())
