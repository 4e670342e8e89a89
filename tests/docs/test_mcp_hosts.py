"""The host table of docs/mcp-hosts.md names only things that exist, so it cannot drift silently.

Every option in it is applied to a real server (a keyword that was renamed, or a value that is no longer
accepted, fails), every ``edda-mcp`` command line is checked against the CLI's parser, every
``edda_mcp.`` name is imported, every test file it cites exists, and every cell uses the page's legend.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from durable_core import WorkflowContext
from edda_mcp import EddaMCPServer
from edda_mcp.cli import build_parser
from edda_mcp.tool_style import SHARED_TOOL_NAMES

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "mcp-hosts.md"
HEADER = [
    "feature",
    "turn it on",
    "Claude Desktop (stdio)",
    "Claude Code (stdio and HTTP)",
    "MCP Inspector",
    "generic HTTP clients",
    "verified by",
]
LEGEND = ("tested", "documented", "not verifiable here", "being added", "n/a")
FEATURES = (
    "stdio",
    "streamable HTTP",
    "2026-07-28",
    "2025-11-25",
    "elicitation",
    "progress",
    "MCP Apps",
    "compact",
)
CODE = re.compile(r"`([^`]+)`")
CALL = re.compile(r"^(?P<target>EddaMCPServer(?:\.\w+)?|durable_tool|asgi_app)\((?P<args>.*)\)$")


def table() -> list[list[str]]:
    """The rows of the page's table (header first), as lists of stripped cells."""
    rows = [line for line in PAGE.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    cells = [[cell.strip() for cell in row.strip().strip("|").split(" | ")] for row in rows]
    return [row for row in cells if not set("".join(row)) <= set("-: ")]


def body() -> list[list[str]]:
    return table()[1:]


def test_columns_rows_and_legend() -> None:
    rows = table()
    assert rows[0] == HEADER
    features = [row[0] for row in rows[1:]]
    for feature in FEATURES:  # a row that is dropped or renamed away fails here
        assert any(feature in name for name in features), (feature, features)
    for row in rows[1:]:
        assert len(row) == len(HEADER), row
        for cell in row[2:6]:
            assert cell.startswith(LEGEND), (row[0], cell)
        if row[1] == "being added":  # nothing about it may be claimed until it exists
            assert set(row[1:]) == {"being added"}, row


def test_every_cited_test_file_exists() -> None:
    for row in body():
        if row[1] == "being added":
            continue
        cited = CODE.findall(row[-1])
        assert cited, f"{row[0]}: the last column must name the tests that verify it"
        for path in cited:
            assert path.startswith("tests/") and (ROOT / path).is_file(), (row[0], path)


def spans() -> list[str]:
    return [span for row in body() for cell in row[1:-1] for span in CODE.findall(cell)]


async def hosts_doc_flow(ctx: WorkflowContext, name: str) -> str:
    return name


@pytest.mark.parametrize("span", sorted({s for s in spans() if CALL.match(s)}))
def test_every_option_exists_and_is_accepted(span: str, tmp_path: Path) -> None:
    match = CALL.match(span)
    assert match is not None
    call = ast.parse(f"f({match['args']})", mode="eval").body
    assert isinstance(call, ast.Call)
    options: dict[str, Any] = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    server = EddaMCPServer("hosts-doc", db_url=f"sqlite:///{tmp_path / 'hosts.db'}")
    target = match["target"]
    method: Any = {
        "EddaMCPServer": EddaMCPServer,
        "durable_tool": server.durable_tool,
        "asgi_app": server.asgi_app,
    }.get(target) or getattr(server, target.split(".", 1)[1])
    parameters = inspect.signature(method).parameters
    for name, value in list(options.items()):
        assert name in parameters, f"{span}: {target} has no parameter {name!r}"
        if value is Ellipsis:
            options.pop(name)
    if target == "EddaMCPServer":
        EddaMCPServer("hosts-doc", db_url=f"sqlite:///{tmp_path / 'hosts.db'}", **options)  # values accepted
    elif target == "durable_tool":
        server.durable_tool(hosts_doc_flow, **options)
    elif target.endswith("asgi_app"):
        server.asgi_app(**options)
    else:  # run(): nothing is served here; the value must be one its signature names
        for name, value in options.items():
            assert repr(value) in str(parameters[name].annotation), f"{span}: {value!r} is not accepted"


@pytest.mark.parametrize("span", sorted({s for s in spans() if s.startswith("edda-mcp ")}))
def test_every_command_line_parses(span: str) -> None:
    parser = build_parser()
    for token in span.split()[1:]:
        parser = cli_step(parser, token, span)


def cli_step(parser: argparse.ArgumentParser, token: str, span: str) -> argparse.ArgumentParser:
    """Follow ``token`` in ``parser``: a subcommand descends, a flag must exist; other tokens are values."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if token in action.choices:
                chosen: argparse.ArgumentParser = action.choices[token]
                return chosen
            if not token.startswith("-") and ":" not in token:
                raise AssertionError(f"{span}: no subcommand {token!r} (choices {sorted(action.choices)})")
    if token.startswith("--"):
        assert token in parser._option_string_actions, f"{span}: no option {token}"
    return parser


def test_named_modules_and_tools_exist() -> None:
    for span in spans():
        if span.startswith("edda_mcp."):
            module, _, attribute = span.rpartition(".")
            assert hasattr(importlib.import_module(module), attribute), span
        if span.startswith("runs_"):
            assert span in SHARED_TOOL_NAMES, span
