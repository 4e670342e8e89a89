"""Edda MCP: durable workflows as MCP tools, served over stdio or streamable HTTP.

::

    from durable_core import WorkflowContext, activity
    from edda_mcp import EddaMCPServer

    server = EddaMCPServer("Order Service", db_url="sqlite:///orders.db")

    @server.durable_tool(description="Process customer order")
    async def process_order(ctx: WorkflowContext, order_id: str) -> dict[str, str]:
        ...

    if __name__ == "__main__":
        server.run()  # stdio; server.asgi_app() for streamable HTTP
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from edda_mcp.client import DurableMCPClient, MCPClientError, MCPSecretMissingError
from edda_mcp.durable_tool import DurableTool, DurableToolSpec
from edda_mcp.errors import AccessDeniedError, EddaMCPError, ServerLoadError, ToolDefinitionError
from edda_mcp.models import CancelOut, ErrorOut, StatusOut, WaitOut
from edda_mcp.resources import history_uri, instance_uri
from edda_mcp.results import ERROR_META_KEY, ErrorCode, error_details
from edda_mcp.server import EddaMCPServer
from edda_mcp.tool_style import ToolStyle

try:
    __version__ = _distribution_version("edda-mcp")  # one version for the whole distribution
except PackageNotFoundError:  # pragma: no cover - imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ERROR_META_KEY",
    "AccessDeniedError",
    "CancelOut",
    "DurableMCPClient",
    "DurableTool",
    "DurableToolSpec",
    "EddaMCPError",
    "EddaMCPServer",
    "ErrorCode",
    "ErrorOut",
    "MCPClientError",
    "MCPSecretMissingError",
    "ServerLoadError",
    "StatusOut",
    "ToolDefinitionError",
    "ToolStyle",
    "WaitOut",
    "error_details",
    "history_uri",
    "instance_uri",
]
