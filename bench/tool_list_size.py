"""Size of ``tools/list`` in both tool styles for servers with 1, 3 and 10 durable tools.

The servers are built from the durable tools of the example programs in ``examples/`` (same workflows,
descriptions and human-input settings), served once with ``tool_style="full"`` and once with
``tool_style="compact"``. For each it prints the number of tools and the bytes of the ``tools/list``
result as compact JSON (what a host receives and, in some form, puts in the model's context).

Run: .venv/bin/python bench/tool_list_size.py [--json]   (nothing is started but an in-memory client)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mcp import Client

from durable_core import Workflow
from edda_mcp import EddaMCPServer, ToolStyle

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class ExampleTool:
    """One durable tool of an example program: where its workflow is and how the example exposes it."""

    module: str
    function: str
    name: str
    description: str
    human_input: bool = False


TOOLS = (
    ExampleTool("mcp_greeting_server", "greet", "greet", "Greet someone by name (durably)"),
    ExampleTool(
        "mcp_order_server",
        "process_order",
        "process_order",
        "Process a customer order: reserve stock, take payment, ship",
    ),
    ExampleTool(
        "mcp_approval",
        "expense_approval",
        "expense_approval",
        "File an expense and wait for a manager's approval",
        human_input=True,
    ),
    ExampleTool("mcp_saga_cancel", "book_trip", "book_trip", "Book flight and hotel, then wait for payment"),
    ExampleTool(
        "mcp_tasks",
        "create_cluster",
        "create_cluster",
        "Create a cluster (asks for the region)",
        human_input=True,
    ),
    ExampleTool(
        "mcp_remote_http", "quarterly_report", "quarterly_report", "Build the quarterly revenue report"
    ),
    ExampleTool("quickstart", "place_order", "quick_order", "Reserve stock and charge the card for an order"),
    ExampleTool(
        "mirascope_mcp_server",
        "research",
        "research",
        "Research a topic with a durable LLM agent that can search the web",
    ),
    ExampleTool(
        "pydantic_graph_mcp_server",
        "place_order",
        "graph_order",
        "Price, reserve, charge and confirm an order (a durable pydantic-graph flow)",
    ),
    ExampleTool(
        "llamaindex_mcp_server",
        "refund",
        "refund",
        "Refund a customer after a human approves it",
        human_input=True,
    ),
)
SIZES = (1, 3, 10)


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (it only defines things at import; nothing is started)."""
    module_name = f"_edda_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def build_server(tools: tuple[ExampleTool, ...], style: ToolStyle, db_url: str) -> EddaMCPServer:
    """A server exposing ``tools`` in ``style``."""
    server = EddaMCPServer(f"{len(tools)}-tools", db_url=db_url, tool_style=style)
    for tool in tools:
        fn: Any = getattr(load_example(tool.module), tool.function)
        if tool.name != tool.function:  # two examples call their workflow place_order: rename one each
            fn = Workflow(fn.fn if isinstance(fn, Workflow) else fn, name=tool.name)
        server.durable_tool(fn, name=tool.name, description=tool.description, human_input=tool.human_input)
    return server


async def measure(tools: tuple[ExampleTool, ...], style: ToolStyle, db_url: str) -> dict[str, Any]:
    """Number of tools and bytes of the ``tools/list`` result (compact JSON) of one server."""
    server = build_server(tools, style, db_url)
    async with Client(server.mcp) as client:
        listed = await client.list_tools()
    payload = listed.model_dump(mode="json", by_alias=True, exclude_none=True)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return {"durable_tools": len(tools), "style": style.value, "tools": len(listed.tools), "bytes": len(body)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            for style in ToolStyle:
                rows.append(
                    await measure(TOOLS[:size], style, f"sqlite:///{Path(tmp) / f'{size}-{style}.db'}")
                )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{'durable tools':>13}  {'full: tools':>11}  {'bytes':>7}  {'compact: tools':>14}  {'bytes':>7}  {'saved':>6}"
    )
    for size in SIZES:
        full, compact = (
            next(r for r in rows if r["durable_tools"] == size and r["style"] == s) for s in ToolStyle
        )
        saved = 1 - compact["bytes"] / full["bytes"]
        print(
            f"{size:>13}  {full['tools']:>11}  {full['bytes']:>7}  {compact['tools']:>14}  {compact['bytes']:>7}"
            f"  {saved:>6.0%}"
        )


if __name__ == "__main__":
    asyncio.run(main())
