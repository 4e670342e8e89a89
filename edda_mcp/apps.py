"""The MCP Apps extension (``io.modelcontextprotocol/ui``): a live progress view of a durable run.

Each durable tool gets a ``ui://edda/<tool>/progress`` resource (``text/html;profile=mcp-app``): a
small self-contained page (package data, no external requests) that a host renders next to the tool
call. Through the host's postMessage bridge it receives the start tool's result, follows the run with
``<tool>_status`` and the history resource, shows the result, and answers pending human input with
``<tool>_respond`` from a form generated from the requested JSON schema.

Only clients that declare the extension see it: for them ``tools/list`` links the start tool to its
view (``_meta.ui.resourceUri``) and ``resources/list`` lists the views; other clients get the same
lists as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any, Final

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from edda_mcp.durable_tool import DurableTool

UI_EXTENSION: Final = "io.modelcontextprotocol/ui"
VIEW_MIME_TYPE: Final = "text/html;profile=mcp-app"
VIEW_SCHEME: Final = "ui://"
#: the view never polls less often than this, whatever the status tool suggests (it is on screen)
VIEW_MAX_POLL_SECONDS: Final = 5.0


def view_uri(tool_name: str) -> str:
    """The ``ui://`` URI of a durable tool's progress view."""
    return f"{VIEW_SCHEME}edda/{tool_name}/progress"


def render_view(tool: DurableTool) -> str:
    """The view's HTML for ``tool``: the page with the tool's names filled in."""
    start, status, result, _ = tool.tool_names
    config = {
        "tool": start,
        "statusTool": status,
        "resultTool": result,
        "respondTool": tool.respond_tool_name if tool.spec.human_input else None,
        "maxPollSeconds": VIEW_MAX_POLL_SECONDS,
    }
    # "<" escaped so that no tool name can close the script element the JSON sits in
    text = json.dumps(config).replace("<", "\\u003c")
    return _template().replace("__EDDA_CONFIG__", text)


def _template() -> str:
    return resources.files("edda_mcp").joinpath("views", "progress.html").read_text(encoding="utf-8")


def register_view(mcp: MCPServer[Any], tool: DurableTool) -> None:
    """Serve ``tool``'s progress view as a resource."""
    start = tool.tool_names[0]

    @mcp.resource(
        view_uri(start),
        name=f"{start}-progress",
        title=f"{start} progress",
        description=f"Live progress of a {start} run (MCP Apps view).",
        mime_type=VIEW_MIME_TYPE,
    )
    def view() -> str:
        return render_view(tool)


def client_declared_ui(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether the client declared ``io.modelcontextprotocol/ui`` (in ``initialize`` or on the request)."""
    capabilities = ctx.session.client_capabilities
    extensions = capabilities.extensions if capabilities is not None else None
    return bool(extensions) and UI_EXTENSION in (extensions or {})


class ProgressViewsMiddleware:
    """Shows the views only to clients that declared the extension (``tools/list``, ``resources/list``).

    Args:
        durable_start_tools: names of the start tools to link, read at each listing (tools added later count).
    """

    def __init__(self, durable_start_tools: Callable[[], Iterable[str]]) -> None:
        self._start_tools = durable_start_tools

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Adjust the two listings; pass everything else through."""
        result = await call_next(ctx)
        if ctx.method not in ("tools/list", "resources/list") or result is None:
            return result
        listing = (
            result.model_dump(by_alias=True, mode="json") if isinstance(result, BaseModel) else dict(result)
        )
        declared = client_declared_ui(ctx)
        if ctx.method == "tools/list" and declared:
            starts = set(self._start_tools())
            listing["tools"] = [
                _linked(tool) if tool.get("name") in starts else tool for tool in listing["tools"]
            ]
        elif ctx.method == "resources/list" and not declared:
            listing["resources"] = [
                r for r in listing["resources"] if not str(r.get("uri")).startswith(VIEW_SCHEME)
            ]
        return listing


def _linked(tool: dict[str, Any]) -> dict[str, Any]:
    meta = dict(tool.get("_meta") or {})
    meta["ui"] = {"resourceUri": view_uri(str(tool["name"]))}
    return {**tool, "_meta": meta}
