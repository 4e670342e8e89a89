"""The documentation site: generated pages are current, the configuration reference matches the code,
every page is in the navigation, and ``mkdocs build --strict`` passes (broken links and anchors fail it).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from durable_core import EddaApp, IngressOptions, OutboxOptions, WorkerOptions
from edda_mcp import EddaMCPServer
from tests.docs import api_reference

ROOT: Final = Path(__file__).resolve().parents[2]
DOCS: Final = ROOT / "docs"
CONFIGURATION: Final = DOCS / "configuration.md"
ROW: Final = re.compile(r"^\| `(?P<name>[^`]+)` \| (?P<cells>.*)\|\s*$")


def _table_after(heading: str) -> dict[str, list[str]]:
    """Rows of the first table under ``heading`` in configuration.md: name -> the other cells."""
    lines = CONFIGURATION.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        match = ROW.match(line)
        if match is not None:
            rows[match["name"]] = [cell.strip() for cell in match["cells"].split(" | ")]
    assert rows, f"no table under {heading!r}"
    return rows


def _shown(default: Any) -> str:
    """A default as the tables write it."""
    if isinstance(default, enum.Enum):
        default = default.value
    if isinstance(default, str):
        return f'`"{default}"`'
    return f"`{default}`"


def _parameters(function: Any) -> dict[str, inspect.Parameter]:
    skipped = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return {
        name: parameter
        for name, parameter in inspect.signature(function).parameters.items()
        if name != "self" and parameter.kind not in skipped
    }


def test_generated_reference_pages_are_current() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in api_reference.pages().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"regenerate with `python -m tests.docs.api_reference --write`: {stale}"


@pytest.mark.parametrize(
    ("heading", "function"),
    [("## `EddaApp` options", EddaApp.__init__), ("## `EddaMCPServer` options", EddaMCPServer.__init__)],
)
def test_every_option_has_a_row_with_its_default(heading: str, function: Any) -> None:
    rows = _table_after(heading)
    parameters = _parameters(function)
    assert sorted(set(parameters) - set(rows)) == [], "options without a row in docs/configuration.md"
    assert sorted(set(rows) - set(parameters)) == [], "rows for options that do not exist"
    for name, parameter in parameters.items():
        default = rows[name][1]
        if parameter.default is inspect.Parameter.empty:
            assert default == "required", name
        elif parameter.default is None or isinstance(parameter.default, str | int | float | bool):
            assert default == _shown(parameter.default), (
                f"{name}: the code's default is {parameter.default!r}"
            )


@pytest.mark.parametrize("group", [WorkerOptions, OutboxOptions, IngressOptions])
def test_every_option_group_field_has_a_row_with_its_default(group: type[Any]) -> None:
    rows = _table_after(f"### `{group.__name__}`")
    fields = {field.name: field.default for field in dataclasses.fields(group)}
    assert sorted(fields) == sorted(rows)
    for name, default in fields.items():
        assert rows[name][1] == _shown(default), f"{group.__name__}.{name}: the code's default is {default!r}"


def test_every_environment_variable_the_code_reads_has_a_row() -> None:
    read: set[str] = set()
    for package in ("durable_core", "edda_mcp", "integrations", "bench", "examples", ".ci"):
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and path.suffix in (".py", "") and "node_modules" not in path.parts:
                read |= set(re.findall(r"\bEDDA_[A-Z][A-Z_]*[A-Z]\b", path.read_text(errors="replace")))
    read |= {"EDDA_TEST_POSTGRES_URL", "EDDA_TEST_MYSQL_URL", "EDDA_TEST_REQUIRE_BACKENDS"}
    rows = _table_after("## Environment variables") | _table_after("### For contributors")
    assert sorted(read - set(rows)) == []


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace("!!python", "#"))

    def pages(node: Any) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [page for value in node.values() for page in pages(value)]
        return [page for item in node for page in pages(item)]

    in_nav = set(pages(config["nav"]))
    on_disk = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert sorted(on_disk - in_nav) == [], "add these pages to mkdocs.yml's nav"
    assert sorted(in_nav - on_disk) == [], "the nav names pages that do not exist"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: warnings (a broken link or anchor, a docstring griffe cannot read) fail."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    reference = (tmp_path / "site" / "reference" / "durable_core" / "index.html").read_text(encoding="utf-8")
    assert 'id="durable_core.EddaApp"' in reference  # the docstrings were rendered, not just the headings
    assert (tmp_path / "site" / "search" / "search_index.json").is_file()
