"""Compatibility with the pinned mirascope range, and the import guard naming the extra."""

from __future__ import annotations

import importlib.metadata
import inspect
import tomllib
from pathlib import Path

import pytest

import durable_mirascope
from durable_mirascope import INSTALL_HINT, MirascopeNotInstalledError
from durable_mirascope._compat import check_mirascope

ROOT = Path(__file__).resolve().parents[3]


def test_installed_version_is_inside_the_pinned_range() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["mirascope"] == ["mirascope>=2.8,<3"]
    assert any(req.startswith("mirascope>=2.8,<3") for req in extras["dev"])
    version = importlib.metadata.version("mirascope")
    major, minor = (int(p) for p in version.split(".")[:2])
    assert major == 2 and minor >= 8
    assert version == durable_mirascope.MIRASCOPE_VERSION


def test_the_upstream_api_this_package_relies_on_exists() -> None:
    from mirascope import llm
    from mirascope.llm.formatting import resolve_format
    from mirascope.llm.messages import promote_to_messages
    from mirascope.llm.prompts import AsyncPrompt, Prompt
    from mirascope.llm.providers import BaseProvider
    from mirascope.llm.tools import AsyncToolkit, ProviderTool

    response_params = set(inspect.signature(llm.AsyncResponse).parameters)
    assert {
        "raw",
        "provider_id",
        "model_id",
        "provider_model_name",
        "params",
        "tools",
        "format",
        "input_messages",
        "assistant_message",
        "finish_reason",
        "usage",
    } <= response_params
    assert {"model", "tools", "format"} <= set(inspect.signature(llm.call).parameters)
    assert {"content", "tools", "format"} <= set(inspect.signature(llm.Model.call_async).parameters)
    assert callable(llm.Model.stream_async) and callable(llm.AsyncResponse.resume)
    assert callable(llm.register_provider) and callable(resolve_format) and callable(promote_to_messages)
    assert {"_call_async", "_stream_async"} <= BaseProvider.__abstractmethods__
    assert {"id", "name", "args"} <= {f for f in llm.ToolCall.__dataclass_fields__}
    assert {"id", "name", "result", "error"} <= {f for f in llm.ToolOutput.__dataclass_fields__}
    assert Prompt and AsyncPrompt and AsyncToolkit and ProviderTool


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(MirascopeNotInstalledError, match=r"pip install 'edda-mcp\[mirascope\]'"):
        check_mirascope()


@pytest.mark.parametrize("version", ["1.25.6", "2.7.0", "3.0.0"])
def test_unsupported_versions_name_the_range(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    with pytest.raises(
        MirascopeNotInstalledError, match=rf"supports mirascope>=2.8,<3 but mirascope {version}"
    ):
        check_mirascope()
    assert INSTALL_HINT == "pip install 'edda-mcp[mirascope]'"
    assert issubclass(MirascopeNotInstalledError, ImportError)
