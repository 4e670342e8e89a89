"""Packaging: typed packages, one version, and every third-party import declared by the distribution."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.resources
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "durable_core",
    "edda_mcp",
    "durable_mirascope",
    "durable_llamaindex",
    "durable_pydantic_graph",
    "durable_pydantic_ai",
)
SOURCES = {
    "durable_core": ROOT / "durable_core",
    "edda_mcp": ROOT / "edda_mcp",
    "durable_mirascope": ROOT / "integrations" / "durable_mirascope",
    "durable_llamaindex": ROOT / "integrations" / "durable_llamaindex",
    "durable_pydantic_graph": ROOT / "integrations" / "durable_pydantic_graph",
    "durable_pydantic_ai": ROOT / "integrations" / "durable_pydantic_ai",
}
#: the extra that must bring each package's upstream imports (None: the base dependencies)
EXTRA_OF = {
    "durable_core": None,
    "edda_mcp": None,
    "durable_mirascope": "mirascope",
    "durable_llamaindex": "llamaindex",
    "durable_pydantic_graph": "pydantic-graph",
    "durable_pydantic_ai": "pydantic-ai",
}
#: imports made only where the matching extra is installed (drivers, optional tracing)
OPTIONAL_IMPORTS = {
    "asyncpg": "postgresql",
    "aiomysql": "mysql",
    "pymysql": "mysql",
    "opentelemetry": "opentelemetry",
    "prometheus_client": "metrics",
    "jinja2": "console",
}
#: modules that ship inside a declared distribution under another name
PART_OF = {"pydantic_core": "pydantic", "pydantic_ai": "pydantic-ai-slim"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str | None, set[str]]:
    """Declared distributions by extra (None: the base dependencies)."""
    found: dict[str | None, set[str]] = {}
    for line in importlib.metadata.requires("edda-mcp") or []:
        name = _normalize(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0])
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", line)
        found.setdefault(_normalize(extra.group(1)) if extra else None, set()).add(name)
    return found


def _third_party_imports(source: Path) -> set[str]:
    """Top-level modules imported anywhere under ``source`` that are neither stdlib nor ours."""
    ours = {*PACKAGES, "integrations", "tests"}
    names: set[str] = set()
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name not in ours}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_is_typed_and_reports_the_distribution_version(package: str) -> None:
    module = importlib.import_module(package)
    assert importlib.resources.files(package).joinpath("py.typed").is_file()
    assert module.__version__ == importlib.metadata.version("edda-mcp")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_third_party_import_is_declared(package: str) -> None:
    declared = _requirements()
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module in sorted(_third_party_imports(SOURCES[package])):
        extra = OPTIONAL_IMPORTS.get(module, EXTRA_OF[package])
        allowed = declared.get(None, set()) | declared.get(extra, set())
        owners = {_normalize(d) for d in distributions.get(module, [])}
        owners |= {_normalize(PART_OF[module])} if module in PART_OF else set()
        if not owners & allowed:
            missing.append(f"{module} (from {sorted(owners)}; extra {extra!r})")
    assert not missing, f"{package} imports undeclared distributions: {missing}"


def test_the_opentelemetry_extra_brings_what_its_example_imports() -> None:
    example = ROOT / "examples" / "otel_tracing.py"
    imported = {
        node.module
        for node in ast.walk(ast.parse(example.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("opentelemetry")
    }
    assert any(module.startswith("opentelemetry.sdk") for module in imported)
    assert {"opentelemetry-api", "opentelemetry-sdk"} <= _requirements()["opentelemetry"]
