"""An MCP server for the remote-HTTP tests: a quick three-step tool and a tool that asks a human.

Served with ``edda-mcp serve tests.mcp.programs.remote_server:server --transport http ...``.
Environment: ``EDDA_MCP_TEST_DB`` (database URL), optionally ``EDDA_MCP_TEST_STATE_KEY``.
"""

from __future__ import annotations

import os

from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import RequestStateSecurity
from pydantic import BaseModel

from durable_core import WorkflowContext, activity, wait_event
from edda_mcp import EddaMCPServer

# Replicas share the key that seals the requestState of input rounds (EDDA_MCP_TEST_STATE_KEY).
shared_key = os.environ.get("EDDA_MCP_TEST_STATE_KEY")
server = EddaMCPServer(
    "e2e-remote-server",
    db_url=os.environ["EDDA_MCP_TEST_DB"],
    start_wait_seconds=20,
    poll_interval=0.05,
    request_state_security=RequestStateSecurity(keys=[shared_key]) if shared_key else None,
)


class Approval(BaseModel):
    approved: bool
    approver: str


@activity
async def remote_step(ctx: WorkflowContext, name: str) -> str:
    return name


@server.durable_tool(description="Three quick steps; the start tool waits for the result.")
async def remote_steps(ctx: WorkflowContext, order_id: str) -> list[str]:
    return [await remote_step(ctx, f"{order_id}:{part}") for part in ("reserve", "charge", "ship")]


@server.durable_tool(description="One step, then waits for a human's approval.", human_input=True)
async def remote_approval(ctx: WorkflowContext, amount: float) -> str:
    await remote_step(ctx, f"request:{amount}")
    answer = await wait_event(ctx, "approval", model=Approval)
    decision = answer.data
    assert isinstance(decision, Approval)
    return f"{amount:.2f} {'approved' if decision.approved else 'rejected'} by {decision.approver}"


class FixedTokens:
    """A TokenVerifier for ``--token-verifier`` tests: ``good-token`` only, issued for the public URL.

    The resource it reports comes from ``EDDA_MCP_TEST_PUBLIC_URL`` (what ``--public-url`` says).
    """

    async def verify_token(self, token: str) -> AccessToken | None:
        if token != "good-token":
            return None
        resource = os.environ.get("EDDA_MCP_TEST_PUBLIC_URL")
        return AccessToken(token=token, client_id="tester", scopes=["orders"], resource=resource)
