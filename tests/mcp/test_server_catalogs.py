"""Each EddaMCPServer has its own catalog: two servers in one process never serve each other's workflows."""

from __future__ import annotations

import pytest
from mcp import Client

from durable_core import (
    Catalog,
    ConfigurationError,
    EddaApp,
    InstanceStatus,
    Workflow,
    WorkflowContext,
    WorkflowNotFoundError,
    activity,
    workflow,
)
from edda_mcp import EddaMCPServer
from tests.mcp.support import wait_until


@activity
async def catalog_t_step(ctx: WorkflowContext, name: str) -> str:
    return f"{name}-done"


@workflow
async def catalog_t_shared(ctx: WorkflowContext, order_id: str) -> str:
    """A module-level workflow: in the process-wide catalog, served by every server that lists it."""
    return await catalog_t_step(ctx, order_id)


def two_servers(db_url: str) -> tuple[EddaMCPServer, EddaMCPServer]:
    # "clients" only starts and reads instances (no workers); "workers" runs what it serves
    clients = EddaMCPServer(
        "clients", db_url=db_url, start_wait_seconds=0, run_workers=False, poll_interval=0.05
    )
    workers = EddaMCPServer("workers", db_url=db_url, start_wait_seconds=10, poll_interval=0.05)

    @clients.durable_tool
    async def alpha(ctx: WorkflowContext, order_id: str) -> str:
        return await catalog_t_step(ctx, f"alpha:{order_id}")

    @workers.durable_tool
    async def beta(ctx: WorkflowContext, order_id: str) -> str:
        return await catalog_t_step(ctx, f"beta:{order_id}")

    return clients, workers


async def test_two_servers_in_one_process_serve_only_their_own_workflows(db_url: str) -> None:
    clients, workers = two_servers(db_url)
    assert {wf.name for wf in clients.catalog} == {"alpha"}
    assert {wf.name for wf in workers.catalog} == {"beta"}
    with pytest.raises(WorkflowNotFoundError, match="alpha"):
        workers.app.workflow_named("alpha")
    with pytest.raises(WorkflowNotFoundError, match="beta"):
        clients.app.workflow_named("beta")
    async with Client(clients.mcp) as a, Client(workers.mcp) as b:
        assert "beta" not in {t.name for t in (await a.list_tools()).tools}
        assert "alpha" not in {t.name for t in (await b.list_tools()).tools}
        started = await a.call_tool("alpha", {"order_id": "A1"})
        assert started.structured_content is not None
        alpha_id = started.structured_content["instance_id"]
        # the workers server polls the shared database while it runs beta; it must leave alpha alone
        done = await b.call_tool("beta", {"order_id": "B1"})
        assert done.structured_content is not None and done.structured_content["status"] == "completed"
        second = await b.call_tool("beta", {"order_id": "B2"})
        assert second.structured_content is not None and second.structured_content["status"] == "completed"
        record = await workers.app.get_instance(alpha_id)
        assert record.status is InstanceStatus.PENDING and record.lease_owner is None, record
    # a server that does serve alpha runs it to completion (it was runnable all along)
    third = EddaMCPServer("alpha-workers", db_url=db_url, poll_interval=0.05)
    third.durable_tool(clients.durable_tools["alpha"].workflow)
    async with third.running():

        async def finished() -> bool:
            return (await third.app.get_instance(alpha_id)).status is InstanceStatus.COMPLETED

        await wait_until(finished, "the alpha run on a server that serves it")
        assert await third.app.wait_result(alpha_id, timeout=5) == "alpha:A1-done"


async def test_module_level_workflows_still_serve_plain_apps_and_any_server_that_lists_them(
    db_url: str,
) -> None:
    server = EddaMCPServer("lister", db_url=db_url, start_wait_seconds=10, poll_interval=0.05)
    server.durable_tool(catalog_t_shared, name="shared")
    async with Client(server.mcp) as client:
        done = await client.call_tool("shared", {"order_id": "S1"})
    assert done.structured_content is not None and done.structured_content["result"] == "S1-done"
    async with EddaApp(db_url, poll_interval=0.05) as plain:  # no workflows=: every @workflow of the process
        assert plain.workflow_named("catalog_t_shared") is catalog_t_shared
        iid = await plain.start(catalog_t_shared, {"order_id": "P1"})
        assert await plain.wait_result(iid, timeout=30) == "P1-done"
        with pytest.raises(WorkflowNotFoundError):
            plain.workflow_named("shared-not-a-workflow-name")


async def test_children_and_other_workflows_are_listed_with_workflows(db_url: str) -> None:
    @workflow(catalog=Catalog())  # not in the process-wide catalog: only servers that list it run it
    async def catalog_t_child(ctx: WorkflowContext, order_id: str) -> str:
        return await catalog_t_step(ctx, f"child:{order_id}")

    async def impostor(ctx: WorkflowContext, order_id: str) -> str:
        return order_id

    server = EddaMCPServer("with-children", db_url=db_url, workflows=[catalog_t_child])
    assert server.app.workflow_named("catalog_t_child") is catalog_t_child
    with pytest.raises(ConfigurationError, match="two different workflows"):
        server.durable_tool(Workflow(impostor, name="catalog_t_child"), name="other")
    assert "other" not in server.durable_tools
    assert server.app.workflow_named("catalog_t_child") is catalog_t_child
