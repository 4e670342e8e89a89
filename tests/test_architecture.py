"""Enforce the import direction of DESIGN.md section 1 by reading every package module with ``ast``.

Packages and what they may import:

- ``durable_core`` imports nothing from ``edda_mcp`` or the integration packages. Inside it the layers
  run leaves -> storage -> replay -> engine -> public ``__init__`` (authoring sits beside storage, below
  replay; ingress, the HTTP entry point, sits beside them on the leaves only and the engine may use it);
  see ``ALLOWED`` below.
- ``edda_mcp`` and the integration packages use ``durable_core`` only through its top-level public names
  (``import durable_core`` / ``from durable_core import X``), never its submodules. ``edda_mcp`` does not
  import integrations; an integration imports neither ``edda_mcp`` nor another integration.
- Only ``durable_core/storage/`` imports SQLAlchemy and the SQL drivers; only
  ``durable_core/storage/notify_postgres.py`` imports asyncpg.

Imports inside ``if TYPE_CHECKING:`` blocks are exempt (they never run). Relative imports are resolved.
A new module directly under ``durable_core`` must be classified here (``LEAVES`` or ``LAYER_PACKAGES``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import architecture_limits as limits

ROOT = Path(__file__).resolve().parents[1]

CORE = "durable_core"
MCP = "edda_mcp"
INTEGRATIONS = frozenset(
    {"durable_mirascope", "durable_llamaindex", "durable_pydantic_graph", "durable_pydantic_ai"}
)
FIRST_PARTY = frozenset({CORE, MCP}) | INTEGRATIONS

# Layers inside durable_core. Leaves are single modules (a leaf may later become a package: its
# submodules are leaves too); the other layers are packages.
LEAVES = frozenset(
    {
        "errors",
        "types",
        "outbox_types",
        "clock",
        "serialization",
        "retry",
        "signals",
        "hooks",
        "codec",
        "otel",
        "validation",
        "stream_types",
        "observers",  # the engine observer port (metrics)
        "scheduling",
        "flow",
        "operator_types",  # the operator read models (console, CLI)
        "run_control",
    },
)
LAYER_PACKAGES = frozenset({"authoring", "storage", "replay", "ingress", "engine"})
ROOT_LAYER = "public __init__"
ALLOWED: Mapping[str, frozenset[str]] = {
    "leaves": frozenset({"leaves"}),
    "authoring": frozenset({"leaves", "authoring"}),
    "storage": frozenset({"leaves", "storage"}),
    "replay": frozenset({"leaves", "authoring", "replay"}),
    # CloudEvents over HTTP: talks to the engine only through its own EventSink protocol
    "ingress": frozenset({"leaves", "ingress"}),
    "engine": frozenset({"leaves", "authoring", "storage", "replay", "ingress", "engine"}),
    ROOT_LAYER: frozenset({"leaves", "authoring", "storage", "replay", "ingress", "engine", ROOT_LAYER}),
}

# Third-party modules confined to part of the tree: top-level name -> (allowed module prefix, reason).
SQL_ONLY_IN_STORAGE = (
    "durable_core.storage",
    "only durable_core/storage/ may import SQLAlchemy and SQL drivers",
)
CONFINED: Mapping[str, tuple[str, str]] = {
    "sqlalchemy": SQL_ONLY_IN_STORAGE,
    "aiosqlite": SQL_ONLY_IN_STORAGE,
    "aiomysql": SQL_ONLY_IN_STORAGE,
    "pymysql": SQL_ONLY_IN_STORAGE,
    "asyncpg": (
        "durable_core.storage.notify_postgres",
        "only durable_core/storage/notify_postgres.py may import asyncpg",
    ),
    "a2wsgi": ("durable_core.ingress.wsgi", "only durable_core/ingress/wsgi.py may import a2wsgi"),
}
# Libraries the engine itself must never depend on (they belong to edda_mcp or an integration).
NOT_IN_CORE = frozenset({"mcp", "mirascope", "llama_index", "workflows", "pydantic_graph", "starlette"})


@dataclass(frozen=True)
class SourceModule:
    """One module of a first-party package, as found on disk (or given by a test)."""

    relpath: str  # posix path relative to the repository root, e.g. "integrations/durable_x/a.py"
    name: str  # dotted import name, e.g. "durable_x.a"
    is_package: bool  # an __init__.py


@dataclass(frozen=True)
class ImportRef:
    """One imported module, after resolving relative imports and ``from pkg import submodule``."""

    lineno: int
    target: str  # the module whose code the import runs last, e.g. "durable_core.errors"
    names: tuple[str, ...]  # for ``from target import a, b``: ("a", "b"); else ()
    text: str  # the statement, for messages


def module_for(relpath: str) -> SourceModule | None:
    """Map a repository-relative path to its import name; None for files outside the packages."""
    parts = relpath.removesuffix(".py").split("/")
    if parts[0] == "integrations":
        parts = parts[1:]
    if not parts or parts[0] not in FIRST_PARTY:
        return None
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return SourceModule(relpath=relpath, name=".".join(parts), is_package=is_package)


def iter_package_files(root: Path) -> Iterator[Path]:
    """Every .py file of the first-party packages that exists now."""
    dirs = [root / CORE, root / MCP, *(root / "integrations" / name for name in sorted(INTEGRATIONS))]
    for directory in dirs:
        if directory.is_dir():
            for path in sorted(directory.rglob("*.py")):
                if "__pycache__" not in path.parts:
                    yield path


def load_tree(root: Path) -> dict[str, str]:
    """Read the package sources under ``root``: relative posix path -> source text."""
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in iter_package_files(root)
    }


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Walk ``tree`` but skip the bodies of ``if TYPE_CHECKING:`` blocks (their ``else`` still runs)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children: list[ast.AST] = [node.test, *node.orelse]
        else:
            children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))  # pre-order, so violations come out in source order


def _resolve_relative(module: SourceModule, level: int, name: str | None) -> str | None:
    """Absolute module name of ``from <level dots><name> import ...`` written in ``module``."""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    if level - 1 > len(package) - 1:
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _import_module_literal(node: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name."""
    func = node.func
    is_import_module = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}
    )
    if is_import_module and node.args and isinstance(node.args[0], ast.Constant):
        value = node.args[0].value
        if isinstance(value, str) and not value.startswith("."):
            return value
    return None


def collect_imports(
    module: SourceModule, tree: ast.AST, known_modules: frozenset[str]
) -> Iterator[ImportRef | str]:
    """Yield the runtime imports of ``module``; yields a message string for an unresolvable one."""
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportRef(node.lineno, alias.name, (), f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            dots = "." * node.level
            text = f"from {dots}{node.module or ''} import {', '.join(a.name for a in node.names)}"
            base = node.module if node.level == 0 else _resolve_relative(module, node.level, node.module)
            if base is None:
                yield f"{module.relpath}:{node.lineno}: `{text}` goes above the top-level package"
                continue
            plain: list[str] = []
            for alias in node.names:
                if f"{base}.{alias.name}" in known_modules:  # ``from pkg import submodule``
                    yield ImportRef(node.lineno, f"{base}.{alias.name}", (), text)
                else:
                    plain.append(alias.name)
            if plain:
                yield ImportRef(node.lineno, base, tuple(plain), text)
        elif isinstance(node, ast.Call):
            target = _import_module_literal(node)
            if target is not None:
                yield ImportRef(node.lineno, target, (), f"import_module({target!r})")


def core_layer(name: str) -> str | None:
    """The layer of a ``durable_core`` module name, or None when it is not classified."""
    parts = name.split(".")
    if parts == [CORE]:
        return ROOT_LAYER
    if parts[1] in LEAVES:
        return "leaves"
    if parts[1] in LAYER_PACKAGES:
        return parts[1]
    return None


def _in(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def check_import(module: SourceModule, ref: ImportRef) -> list[str]:
    """The rules ``ref`` (an import made by ``module``) breaks, as messages naming file, line and rule."""
    where = f"{module.relpath}:{ref.lineno}: `{ref.text}`"
    importer_top = module.name.split(".")[0]
    top = ref.target.split(".")[0]
    errors: list[str] = []

    if top == "integrations":
        errors.append(f"{where}: integration packages are imported by their own name, not via integrations.")
    if top in CONFINED:
        allowed, reason = CONFINED[top]
        if not _in(module.name, allowed):
            errors.append(f"{where}: {reason}")

    if importer_top == CORE:
        if top in FIRST_PARTY - {CORE}:
            errors.append(f"{where}: durable_core must not import {top} (it imports no other package here)")
        if top in NOT_IN_CORE:
            errors.append(
                f"{where}: durable_core must not depend on {top} (it belongs to edda_mcp/integrations)"
            )
        if top == CORE:
            source_layer, target_layer = core_layer(module.name), core_layer(ref.target)
            if target_layer is None:
                errors.append(f"{where}: {ref.target} is in no durable_core layer; classify it in {_THIS}")
            elif source_layer is not None and target_layer not in ALLOWED[source_layer]:
                allowed = ", ".join(sorted(ALLOWED[source_layer]))
                errors.append(
                    f"{where}: layer '{source_layer}' must not import layer '{target_layer}' "
                    f"({ref.target}); '{source_layer}' may import only: {allowed}"
                )
    else:  # edda_mcp or an integration
        if top == CORE:
            if ref.target != CORE:
                errors.append(
                    f"{where}: {importer_top} must use durable_core's public names "
                    f"(`from durable_core import X`), not its submodule {ref.target}"
                )
            private = [name for name in ref.names if name.startswith("_")]
            if private:
                errors.append(f"{where}: {importer_top} must not import private durable_core names {private}")
        if importer_top == MCP and top in INTEGRATIONS:
            errors.append(f"{where}: edda_mcp must not import the integration package {top}")
        if importer_top in INTEGRATIONS and top in (FIRST_PARTY - {CORE, importer_top}):
            errors.append(f"{where}: integration {importer_top} may import only durable_core, not {top}")
    return errors


_THIS = "tests/test_architecture.py (LEAVES or LAYER_PACKAGES)"


def check_sources(files: Mapping[str, str]) -> list[str]:
    """Check every first-party module in ``files`` (relative path -> source); return the violations."""
    modules = {path: mod for path in files if (mod := module_for(path)) is not None}
    known = frozenset(mod.name for mod in modules.values())
    violations: list[str] = []
    for path, module in sorted(modules.items()):
        if module.name.split(".")[0] == CORE and core_layer(module.name) is None:
            violations.append(f"{path}:1: {module.name} is in no durable_core layer; classify it in {_THIS}")
        try:
            tree = ast.parse(files[path], filename=path)
        except SyntaxError as exc:
            violations.append(f"{path}:{exc.lineno}: cannot be parsed: {exc.msg}")
            continue
        for ref in collect_imports(module, tree, known):
            if isinstance(ref, str):
                violations.append(ref)
            else:
                violations.extend(check_import(module, ref))
    return violations


# --------------------------------------------------------------------------- the real tree


def test_package_imports_point_the_right_way() -> None:
    files = load_tree(ROOT)
    assert files, "no package sources found"
    violations = check_sources(files)
    assert not violations, "import direction violations (DESIGN.md section 1):\n" + "\n".join(violations)


# --------------------------------------------------------------------------- the checker itself

GOOD = {
    "durable_core/__init__.py": "from durable_core.engine.app import App\nfrom .errors import EddaError\n",
    "durable_core/errors.py": "class EddaError(Exception): ...\n",
    "durable_core/types.py": "from __future__ import annotations\nfrom .errors import EddaError\n",
    "durable_core/clock.py": "import time\nfrom durable_core.types import Instant\n",
    "durable_core/authoring/__init__.py": (
        "from typing import TYPE_CHECKING\nfrom .. import errors\nfrom ..types import X\n"
        "if TYPE_CHECKING:\n    from sqlalchemy.ext.asyncio import AsyncSession\n"
        "    from durable_core.engine.app import App\n"
    ),
    "durable_core/storage/__init__.py": "",
    "durable_core/storage/sql.py": "import sqlalchemy as sa\nimport aiosqlite\nfrom . import base\n",
    "durable_core/storage/notify_postgres.py": "import asyncpg\nfrom .sql import x\n",
    "durable_core/replay/runner.py": "from durable_core.authoring import workflow\nfrom ..errors import EddaError\n",
    "durable_core/engine/__init__.py": "",
    "durable_core/engine/app.py": (
        "from ..storage import sql\nfrom ..replay.runner import run\nfrom durable_core import clock\n"
        "from durable_core.ingress.asgi import CloudEventsASGI\n"
    ),
    "durable_core/ingress/__init__.py": "",
    "durable_core/ingress/asgi.py": "from durable_core.errors import EddaError\nfrom .sink import EventSink\n",
    "durable_core/ingress/sink.py": "from durable_core.types import CancelOutcome\n",
    "durable_core/ingress/wsgi.py": "from a2wsgi import ASGIMiddleware\n",
    "edda_mcp/__init__.py": "import durable_core\nfrom durable_core import App, EddaError\nimport mcp\n",
    "edda_mcp/server.py": "from . import cli\nfrom .cli import main\nfrom edda_mcp import server\n",
    "edda_mcp/cli.py": "import typing\nif typing.TYPE_CHECKING:\n    from durable_core.engine import app\n",
    "integrations/durable_mirascope/__init__.py": "from durable_core import activity\nfrom ._calls import c\n",
    "integrations/durable_mirascope/_calls.py": "import mirascope\nfrom durable_mirascope import x\n",
}


def test_checker_accepts_a_well_layered_tree() -> None:
    assert check_sources(GOOD) == []


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        # layer arrows inside durable_core, absolute and relative
        (
            "durable_core/storage/sql.py",
            "\n\nfrom durable_core.engine import app\n",
            ":3: `from durable_core.engine",
        ),
        (
            "durable_core/storage/sql.py",
            "from ..replay import runner\n",
            "layer 'storage' must not import layer 'replay'",
        ),
        (
            "durable_core/replay/runner.py",
            "from ..storage.sql import q\n",
            "layer 'replay' must not import layer 'storage'",
        ),
        (
            "durable_core/replay/runner.py",
            "from durable_core import engine\n",
            "must not import layer 'engine'",
        ),
        ("durable_core/authoring/ctx.py", "from durable_core.storage import sql\n", "layer 'authoring'"),
        (
            "durable_core/ingress/asgi.py",
            "from durable_core.engine.app import EddaApp\n",
            "layer 'ingress' must not import layer 'engine'",
        ),
        (
            "durable_core/ingress/asgi.py",
            "from ..storage import sql\n",
            "layer 'ingress' must not import layer 'storage'",
        ),
        (
            "durable_core/storage/sql.py",
            "from durable_core.ingress import CloudEventsASGI\n",
            "layer 'storage' must not import layer 'ingress'",
        ),
        (
            "durable_core/ingress/asgi.py",
            "import a2wsgi\n",
            "only durable_core/ingress/wsgi.py may import a2wsgi",
        ),
        ("durable_core/errors.py", "from durable_core.authoring import workflow\n", "layer 'leaves'"),
        (
            "durable_core/engine/app.py",
            "from durable_core import App\n",
            "must not import layer 'public __init__'",
        ),
        ("durable_core/types.py", "def f():\n    from . import engine\n", "durable_core/types.py:2:"),
        # third-party confinement
        (
            "durable_core/authoring/ctx.py",
            "import sqlalchemy\n",
            "only durable_core/storage/ may import SQLAlchemy",
        ),
        ("durable_core/engine/app.py", "from sqlalchemy.ext import asyncio\n", "only durable_core/storage/"),
        ("edda_mcp/cli.py", "import aiomysql\n", "only durable_core/storage/"),
        (
            "durable_core/storage/postgres.py",
            "import asyncpg\n",
            "only durable_core/storage/notify_postgres.py",
        ),
        (
            "durable_core/engine/app.py",
            "import importlib\nimportlib.import_module('asyncpg')\n",
            ":2: `import_module",
        ),
        ("durable_core/engine/app.py", "import mcp\n", "durable_core must not depend on mcp"),
        # packages
        (
            "durable_core/engine/app.py",
            "from edda_mcp import server\n",
            "durable_core must not import edda_mcp",
        ),
        (
            "durable_core/types.py",
            "import durable_mirascope\n",
            "durable_core must not import durable_mirascope",
        ),
        ("edda_mcp/server.py", "import durable_core.errors\n", "not its submodule durable_core.errors"),
        (
            "edda_mcp/server.py",
            "from durable_core.engine.app import App\n",
            "not its submodule durable_core.engine",
        ),
        ("edda_mcp/server.py", "from durable_core import errors\n", "not its submodule durable_core.errors"),
        (
            "edda_mcp/server.py",
            "from durable_core import _registry\n",
            "private durable_core names ['_registry']",
        ),
        ("edda_mcp/server.py", "import durable_mirascope\n", "edda_mcp must not import the integration"),
        (
            "integrations/durable_mirascope/a.py",
            "from edda_mcp import X\n",
            "may import only durable_core, not edda_mcp",
        ),
        (
            "integrations/durable_llamaindex/a.py",
            "from durable_pydantic_graph import g\n",
            "may import only durable_core, not durable_pydantic_graph",
        ),
        (
            "integrations/durable_mirascope/a.py",
            "import integrations.durable_llamaindex\n",
            "not via integrations",
        ),
        ("integrations/durable_mirascope/a.py", "from durable_core.types import T\n", "not its submodule"),
        # TYPE_CHECKING exempts only its own body
        (
            "durable_core/authoring/ctx.py",
            "if TYPE_CHECKING:\n    pass\nelse:\n    import sqlalchemy\n",
            "durable_core/authoring/ctx.py:4:",
        ),
        # structure
        ("durable_core/helpers.py", "", "durable_core.helpers is in no durable_core layer; classify it"),
        ("durable_core/util/__init__.py", "", "durable_core.util is in no durable_core layer"),
        ("durable_core/types.py", "from ...x import y\n", "goes above the top-level package"),
        ("edda_mcp/cli.py", "def f(:\n", "edda_mcp/cli.py:1: cannot be parsed"),
    ],
)
def test_checker_reports_a_violation(path: str, source: str, expected: str) -> None:
    violations = check_sources({**GOOD, path: source})
    assert any(expected in message for message in violations), violations
    assert all(message.startswith(f"{path}:") for message in violations), violations


def test_module_names_of_integrations_are_top_level() -> None:
    module = module_for("integrations/durable_llamaindex/steps/__init__.py")
    assert module == SourceModule(
        "integrations/durable_llamaindex/steps/__init__.py", "durable_llamaindex.steps", True
    )
    assert module_for("tests/test_architecture.py") is None
    assert module_for("examples/crash_recovery_demo.py") is None


# -- size caps and the public API pin (limits and today's exceptions: tests/architecture_limits.py) ------
def function_lengths(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(qualified name, lines from ``def`` to its last line) of every function and method in ``tree``."""
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                yield name, (child.end_lineno or child.lineno) - child.lineno + 1
                stack.append((child, f"{name}."))
            elif isinstance(child, ast.ClassDef):
                stack.append((child, f"{prefix}{child.name}."))


def check_sizes(files: Mapping[str, str]) -> list[str]:
    """Modules over the line cap, functions over theirs (or over their recorded exception), stale exceptions."""
    problems: list[str] = []
    seen: set[str] = set()
    for relpath, source in sorted(files.items()):
        lines = len(source.splitlines())
        if lines > limits.MAX_MODULE_LINES:
            problems.append(f"{relpath}: {lines} lines (cap {limits.MAX_MODULE_LINES}): split it")
        for name, length in function_lengths(ast.parse(source, filename=relpath)):
            key = f"{relpath}::{name}"
            allowed, _reason = limits.FUNCTION_SIZE_EXCEPTIONS.get(key, (limits.MAX_FUNCTION_LINES, ""))
            if key in limits.FUNCTION_SIZE_EXCEPTIONS:
                seen.add(key)
                if length <= limits.MAX_FUNCTION_LINES:
                    problems.append(f"{key}: now {length} lines: remove it from FUNCTION_SIZE_EXCEPTIONS")
            if length > allowed:
                problems.append(f"{key}: {length} lines (cap {allowed}): split it")
    problems.extend(
        f"{key}: listed in FUNCTION_SIZE_EXCEPTIONS but not found: remove it"
        for key in sorted(set(limits.FUNCTION_SIZE_EXCEPTIONS) - seen)
    )
    return problems


def test_modules_and_functions_stay_small() -> None:
    problems = check_sizes(load_tree(ROOT))
    assert not problems, "size caps exceeded:\n" + "\n".join(problems)


def test_size_check_reports_long_code_and_stale_exceptions() -> None:
    long_function = "def f():\n" + "    x = 1\n" * limits.MAX_FUNCTION_LINES
    files = {
        "durable_core/big.py": "x = 1\n" * (limits.MAX_MODULE_LINES + 1),
        "durable_core/fn.py": long_function,
        "durable_core/engine/app.py": "class EddaApp:\n    def __init__(self):\n        pass\n",
    }
    problems = "\n".join(check_sizes(files))
    assert f"durable_core/big.py: {limits.MAX_MODULE_LINES + 1} lines" in problems
    assert f"durable_core/fn.py::f: {limits.MAX_FUNCTION_LINES + 1} lines" in problems
    assert "EddaApp.__init__: now 2 lines: remove it" in problems
    assert "send_event: listed in FUNCTION_SIZE_EXCEPTIONS but not found" in problems


def declared_all(source: str) -> list[str] | None:
    """The literal ``__all__`` of a module's source, or None when it has none."""
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = ast.literal_eval(node.value)  # type: ignore[attr-defined]
            return [str(name) for name in value]
    return None


PACKAGE_INITS: Mapping[str, str] = {
    CORE: f"{CORE}/__init__.py",
    MCP: f"{MCP}/__init__.py",
    **{name: f"integrations/{name}/__init__.py" for name in sorted(INTEGRATIONS)},
}


@pytest.mark.parametrize("package", sorted(PACKAGE_INITS))
def test_public_names_are_pinned(package: str) -> None:
    names = declared_all((ROOT / PACKAGE_INITS[package]).read_text(encoding="utf-8"))
    assert names is not None, f"{package} declares no literal __all__"
    assert len(names) == len(set(names)), f"{package}.__all__ lists a name twice"
    pinned = limits.PUBLIC_ALL[package]
    added, removed = sorted(set(names) - pinned), sorted(pinned - set(names))
    assert not added and not removed, (
        f"{package}.__all__ changed (added {added}, removed {removed}): a public API change; update "
        "PUBLIC_ALL in tests/architecture_limits.py on purpose"
    )
