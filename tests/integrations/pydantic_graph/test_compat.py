"""Compatibility with the pinned pydantic-graph range, and the import guard naming the extra."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

import durable_pydantic_graph
from durable_pydantic_graph import INSTALL_HINT, PydanticGraphNotInstalledError
from durable_pydantic_graph._compat import check_pydantic_graph

ROOT = Path(__file__).resolve().parents[3]


def test_installed_version_is_inside_the_pinned_range() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "pydantic-graph>=2,<3" in extras["pydantic-graph"]
    assert any(req.startswith("pydantic-graph>=2,<3") for req in extras["dev"])
    version = importlib.metadata.version("pydantic-graph")
    assert version.split(".")[0] == "2"
    assert version == durable_pydantic_graph.PYDANTIC_GRAPH_VERSION


def test_the_upstream_api_this_package_relies_on_exists() -> None:
    import dataclasses
    import inspect

    from pydantic_graph import Graph, GraphBuilder, Join, Step, StepContext
    from pydantic_graph.join import JoinNode
    from pydantic_graph.step import NodeStep, StepNode

    assert "nodes" in {f.name for f in dataclasses.fields(Graph)}
    assert "infer_name" in inspect.signature(Graph.run).parameters
    assert {"id", "call", "label"} <= set(inspect.signature(Step).parameters)
    assert {"state", "deps", "inputs"} <= set(inspect.signature(StepContext).parameters)
    assert {"id", "label"} <= set(inspect.signature(NodeStep).parameters)
    assert callable(GraphBuilder.node) and callable(GraphBuilder.join)
    assert "id" in {f.name for f in dataclasses.fields(Join)}
    assert {f.name for f in dataclasses.fields(StepNode)} >= {"step", "inputs"}
    assert {f.name for f in dataclasses.fields(JoinNode)} >= {"join", "inputs"}


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(PydanticGraphNotInstalledError, match=r"pip install 'edda-mcp\[pydantic-graph\]'"):
        check_pydantic_graph()


def test_unsupported_major_names_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.9.0")
    with pytest.raises(
        PydanticGraphNotInstalledError, match=r"supports pydantic-graph>=2,<3 but pydantic-graph 1.9.0"
    ):
        check_pydantic_graph()
    assert INSTALL_HINT in str(PydanticGraphNotInstalledError(INSTALL_HINT))
    assert issubclass(PydanticGraphNotInstalledError, ImportError)
