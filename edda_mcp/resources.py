"""``edda://instances/{instance_id}`` and ``.../history`` resources, with update events on change."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus

from durable_core import EddaApp, InstanceNotFoundError
from edda_mcp import access
from edda_mcp.queries import history_json
from edda_mcp.status import read_status
from edda_mcp.stream_resource import register_stream_resource

INSTANCE_URI = "edda://instances/{instance_id}"
HISTORY_URI = "edda://instances/{instance_id}/history"


def instance_uri(instance_id: str) -> str:
    """The resource URI of an instance."""
    return INSTANCE_URI.format(instance_id=instance_id)


def history_uri(instance_id: str) -> str:
    """The resource URI of an instance's history."""
    return HISTORY_URI.format(instance_id=instance_id)


def register_instance_resources(mcp: MCPServer[Any], app: Callable[[], EddaApp]) -> None:
    """Add the instance and history resource templates to ``mcp``."""

    @mcp.resource(INSTANCE_URI, name="instance", mime_type="application/json", description=_INSTANCE_DOC)
    async def instance(instance_id: str) -> str:
        engine = app()
        record = await _record(engine, instance_id)
        status = await read_status(engine, record)
        return status.model_dump_json(indent=2)

    @mcp.resource(
        HISTORY_URI, name="instance-history", mime_type="application/json", description=_HISTORY_DOC
    )
    async def history(instance_id: str) -> str:
        engine = app()
        await _record(engine, instance_id)
        return json.dumps(history_json(await engine.get_history(instance_id)), indent=2)

    register_stream_resource(mcp, app, _record)


async def _record(engine: EddaApp, instance_id: str) -> Any:
    if not access.may_access(access.current_principal(), instance_id):
        raise ResourceError(f"no workflow instance with id {instance_id!r}")
    try:
        return await engine.get_instance(instance_id)
    except InstanceNotFoundError as exc:
        raise ResourceError(str(exc)) from None


def announcer(bus: SubscriptionBus) -> Callable[[str], Any]:
    """A change callback that publishes resource-updated events for an instance's resources."""

    async def announce(instance_id: str) -> None:
        await bus.publish(ResourceUpdated(uri=instance_uri(instance_id)))
        await bus.publish(ResourceUpdated(uri=history_uri(instance_id)))

    return announce


_INSTANCE_DOC = "Status of a workflow instance: state, steps completed, current step, what it waits for."
_HISTORY_DOC = "Recorded steps of a workflow instance, in order."
