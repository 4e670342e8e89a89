"""Docs and README code are real programs: every Python fence is an example file that tests run.

A Python code block in ``docs/*.md`` or ``README.md`` must be introduced by a marker naming its file::

    <!-- example: examples/quickstart.py -->
    ```python
    ...the exact contents of examples/quickstart.py...
    ```

:mod:`tests.examples.test_examples` runs every file under ``examples/``, so a snippet that drifts from
its file, or a file that stops working, fails the suite. Relative links in the same Markdown files must
point to files that exist (and, for ``page.md#anchor`` links, to a heading that exists).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARKDOWN_FILES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "SECURITY.md", *DOCS.glob("*.md")])
#: links to this repository's files on GitHub (README.md uses them so they work on PyPI too) are checked
#: like relative links, against the working tree
REPOSITORY_FILE = re.compile(
    r"^https://github\.com/edda-mcp/edda-mcp/(?:blob|tree)/main/(?P<path>[^#]*)(?P<anchor>#.*)?$"
)
MARKER = re.compile(r"^<!--\s*example:\s*(?P<path>\S+)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,}|~{3,})(?P<info>.*)$")
PYTHON_INFOS = frozenset({"python", "py", "python3"})
# [text](target) or ![alt](target "title"); the text may span lines and hold one level of brackets
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Fence:
    file: Path
    line: int  # 1-based line of the opening fence
    info: str
    body: str
    marker: str | None  # the example path named by the marker right before the fence


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def parse(path: Path) -> tuple[list[Fence], list[tuple[int, str]], list[str]]:
    """Fences, prose lines (outside fences) with their numbers, and problems with markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fences: list[Fence] = []
    prose: list[tuple[int, str]] = []
    problems: list[str] = []
    pending: tuple[int, str] | None = None  # marker waiting for its fence
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = FENCE.match(line)
        if opening is None:
            marker = MARKER.match(line)
            if marker is not None:
                if pending is not None:
                    problems.append(f"{rel(path)}:{pending[0]}: marker not followed by a code block")
                pending = (i + 1, marker["path"])
            elif line.strip() and pending is not None:
                problems.append(f"{rel(path)}:{pending[0]}: marker not directly followed by a code block")
                pending = None
            prose.append((i + 1, line))
            i += 1
            continue
        ticks, info = opening["ticks"], opening["info"].strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.match(rf"^ *{re.escape(ticks[0])}{{{len(ticks)},}}\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            problems.append(f"{rel(path)}:{start + 1}: code block is never closed")
        fences.append(
            Fence(
                path,
                start + 1,
                info.split()[0].lower() if info else "",
                "\n".join(body) + "\n",
                pending[1] if pending else None,
            )
        )
        pending = None
        i += 1
    if pending is not None:
        problems.append(f"{rel(path)}:{pending[0]}: marker not followed by a code block")
    return fences, prose, problems


def all_fences() -> list[Fence]:
    return [fence for path in MARKDOWN_FILES for fence in parse(path)[0]]


def test_docs_exist() -> None:
    assert (DOCS / "index.md").is_file()
    assert len(MARKDOWN_FILES) > 2


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=rel)
def test_markers_are_well_formed(path: Path) -> None:
    problems = parse(path)[2]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=rel)
def test_every_python_block_is_an_example_file(path: Path) -> None:
    problems = []
    for fence in parse(path)[0]:
        where = f"{rel(fence.file)}:{fence.line}"
        if fence.info not in PYTHON_INFOS:
            if fence.marker is not None:
                problems.append(
                    f"{where}: an example marker must introduce a python block, not {fence.info!r}"
                )
            continue
        if fence.marker is None:
            problems.append(f"{where}: python block without '<!-- example: examples/<file>.py -->' before it")
            continue
        example = (ROOT / fence.marker).resolve()
        if example.parent != (ROOT / "examples").resolve() or example.suffix != ".py":
            problems.append(f"{where}: {fence.marker} is not a .py file directly under examples/")
        elif not example.is_file():
            problems.append(f"{where}: {fence.marker} does not exist")
        elif example.read_text(encoding="utf-8") != fence.body:
            problems.append(f"{where}: the block differs from {fence.marker}; paste the file verbatim")
    assert not problems, "\n".join(problems)


def test_every_example_is_shown_or_linked_in_the_docs() -> None:
    shown = {(ROOT / f.marker).resolve() for f in all_fences() if f.marker}
    linked = {
        (path.parent / target.partition("#")[0]).resolve()
        for path in MARKDOWN_FILES
        for _, target in relative_links(path)
    }
    examples = sorted((ROOT / "examples").glob("*.py"))
    missing = [rel(p) for p in examples if p.resolve() not in shown | linked]
    assert missing == [], "show or link these examples in docs/"


def test_readme_links_work_on_a_package_index_page() -> None:
    """PyPI shows README.md without the repository around it: its links must be absolute."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    relative = [
        match["target"]
        for match in LINK.finditer(re.sub(r"```.*?```", "", text, flags=re.DOTALL))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", match["target"].strip("<>"), re.IGNORECASE)
    ]
    assert relative == [], "use https://github.com/edda-mcp/edda-mcp/blob/main/... links in README.md"


def test_readme_example_is_the_quickstart() -> None:
    readme = [f for f in parse(ROOT / "README.md")[0] if f.info in PYTHON_INFOS]
    assert [f.marker for f in readme] == ["examples/quickstart.py"]


def relative_links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link outside code that is not a URL (``scheme:...``)."""
    prose = dict(parse(path)[1])
    count = path.read_text(encoding="utf-8").count("\n") + 1
    # Code blocks become empty lines and code spans spaces, so offsets still map to line numbers.
    text = "\n".join(prose.get(number, "") for number in range(1, count + 1))
    text = re.sub(r"`[^`\n]*`", lambda m: " " * len(m[0]), text)
    links = []
    for match in LINK.finditer(text):
        target = match["target"].strip("<>")
        in_repository = REPOSITORY_FILE.match(target)
        if in_repository is not None:
            local = os.path.relpath(ROOT / in_repository["path"], path.parent)
            target = local + (in_repository["anchor"] or "")
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            links.append((text.count("\n", 0, match.start()) + 1, target))
    return links


def _anchors(path: Path) -> set[str]:
    """GitHub-style heading anchors of a Markdown file."""
    anchors: set[str] = set()
    for _, line in parse(path)[1]:
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            text = re.sub(r"[`*_]|<[^>]+>", "", heading[1]).strip().lower()
            slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            anchors.add(slug)
    return anchors


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=rel)
def test_relative_links_resolve(path: Path) -> None:
    problems = []
    for number, target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        where = f"{rel(path)}:{number}: {target}"
        if resolved != ROOT and ROOT not in resolved.parents:
            problems.append(f"{where}: points outside the repository")
        elif not resolved.exists():
            problems.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            problems.append(f"{where}: no heading with anchor #{anchor}")
    assert not problems, "\n".join(problems)
