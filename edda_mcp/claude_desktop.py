"""``edda-mcp install claude-desktop``: merge a server entry into ``claude_desktop_config.json``."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edda_mcp.errors import EddaMCPError
from edda_mcp.loader import split_target

CONFIG_ENV = "EDDA_MCP_CLAUDE_CONFIG"


def default_config_path() -> Path:
    """Claude Desktop's config file on this platform (``EDDA_MCP_CLAUDE_CONFIG`` overrides it)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", home)) / "Claude" / "claude_desktop_config.json"
    return home / ".config" / "Claude" / "claude_desktop_config.json"


@dataclass(frozen=True, slots=True)
class InstallResult:
    """What was written: the config file, the entry's name and the entry."""

    config_path: Path
    name: str
    entry: dict[str, Any]


def absolute_target(target: str) -> tuple[str, Path]:
    """``target`` with a ``.py`` path made absolute, and the directory to put on PYTHONPATH."""
    module, attr = split_target(target)
    if module.endswith(".py"):
        path = Path(module).resolve()
        return (f"{path}:{attr}" if attr else str(path)), path.parent
    return target, Path.cwd().resolve()


def absolute_db_url(db: str | None, default_dir: Path, name: str) -> str:
    """A database URL whose SQLite path is absolute (Claude Desktop starts servers in another directory)."""
    if db is None:
        return f"sqlite:///{(default_dir / f'{_slug(name)}.db').resolve()}"
    if "://" not in db:  # a plain file path
        return f"sqlite:///{Path(db).expanduser().resolve()}"
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////") and ":memory:" not in db:
        return f"sqlite:///{Path(db.removeprefix('sqlite:///')).expanduser().resolve()}"
    return db


def install(
    target: str, *, name: str, config_path: Path, db: str | None, python: str = sys.executable
) -> InstallResult:
    """Add (or replace) the entry ``name`` under ``mcpServers``; other entries and keys are kept."""
    entry_target, project_dir = absolute_target(target)
    entry = {
        "command": str(Path(python).absolute()),
        "args": [
            "-m",
            "edda_mcp",
            "serve",
            entry_target,
            "--transport",
            "stdio",
            "--db",
            absolute_db_url(db, project_dir, name),
        ],
        "env": {"PYTHONPATH": str(project_dir)},
    }
    config: dict[str, Any] = {}
    if config_path.exists():
        try:
            loaded = json.loads(config_path.read_text(encoding="utf-8") or "{}")
        except json.JSONDecodeError as exc:
            raise EddaMCPError(f"{config_path} is not valid JSON ({exc}); fix or remove it first") from None
        if not isinstance(loaded, dict):
            raise EddaMCPError(f"{config_path} must hold a JSON object")
        config = loaded
    servers = config.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise EddaMCPError(f"{config_path}: 'mcpServers' must be a JSON object")
    servers[name] = entry
    config_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = config_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tmp.replace(config_path)
    return InstallResult(config_path, name, entry)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_") or "edda"
