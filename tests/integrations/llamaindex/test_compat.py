"""Compatibility with the pinned llama-index-workflows range, and the import guard naming the extra."""

from __future__ import annotations

import importlib.metadata
import inspect
import tomllib
from pathlib import Path

import pytest

import durable_llamaindex
from durable_llamaindex import INSTALL_HINT, LlamaIndexNotInstalledError
from durable_llamaindex._compat import check_llamaindex

ROOT = Path(__file__).resolve().parents[3]


def test_installed_version_is_inside_the_pinned_range() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "llama-index-workflows>=2.26,<3" in extras["llamaindex"]
    assert any(req.startswith("llama-index-workflows>=2.26,<3") for req in extras["dev"])
    version = importlib.metadata.version("llama-index-workflows")
    major, minor = (int(part) for part in version.split(".")[:2])
    assert major == 2 and minor >= 26
    assert version == durable_llamaindex.LLAMAINDEX_WORKFLOWS_VERSION


def test_the_upstream_api_this_package_relies_on_exists() -> None:
    from workflows import Context, Workflow
    from workflows.context.serializers import JsonSerializer
    from workflows.events import HumanResponseEvent, InputRequiredEvent, InternalDispatchEvent
    from workflows.plugins.basic import BasicRuntime, InternalAsyncioAdapter
    from workflows.runtime.types.plugin import InternalRunAdapter
    from workflows.runtime.types.results import SentEvent, StepWorkerResult
    from workflows.runtime.types.ticks import TickAddEvent, TickStepResult

    for hook in ("after_tick", "on_tick", "write_to_event_stream"):
        assert inspect.iscoroutinefunction(getattr(InternalRunAdapter, hook))
    assert {"queues"} <= set(inspect.signature(InternalAsyncioAdapter.__init__).parameters)
    assert {"get_internal_adapter", "registering"} <= set(dir(BasicRuntime))
    assert {"step_id", "event", "result", "sends"} <= set(TickStepResult.model_fields)
    assert "event" in TickAddEvent.model_fields and "result" in StepWorkerResult.model_fields
    assert "event" in SentEvent.model_fields
    assert {"to_dict", "from_dict"} <= set(dir(Context))
    assert {"ctx", "start_event"} <= set(inspect.signature(Workflow.run).parameters)
    assert "runtime" in inspect.signature(Workflow.__init__).parameters
    assert not issubclass(HumanResponseEvent, InternalDispatchEvent)
    assert not issubclass(InputRequiredEvent, InternalDispatchEvent)
    assert callable(JsonSerializer().serialize) and callable(JsonSerializer().deserialize)


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(LlamaIndexNotInstalledError, match=r"pip install 'edda-mcp\[llamaindex\]'"):
        check_llamaindex()


@pytest.mark.parametrize("version", ["1.3.0", "2.25.9", "3.0.0"])
def test_unsupported_versions_name_the_range(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    with pytest.raises(
        LlamaIndexNotInstalledError, match=rf"llama-index-workflows>=2.26,<3 but .* {version}"
    ):
        check_llamaindex()
    assert INSTALL_HINT == "pip install 'edda-mcp[llamaindex]'"
    assert issubclass(LlamaIndexNotInstalledError, ImportError)
