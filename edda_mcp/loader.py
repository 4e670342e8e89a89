"""Loading a server from ``module:attribute`` or ``path/to/file.py:attribute``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from edda_mcp.errors import ServerLoadError

if TYPE_CHECKING:
    from edda_mcp.server import EddaMCPServer


def split_target(target: str) -> tuple[str, str | None]:
    """``"pkg.mod:server"`` -> ``("pkg.mod", "server")``; the attribute is optional."""
    module, sep, attr = target.rpartition(":")
    if not sep or (len(module) == 1 and module.isalpha()):  # no colon, or only a Windows drive letter
        return target, None
    if not module or not attr.isidentifier():
        raise ServerLoadError(f"{target!r} is not module:attribute (e.g. my_app.server:server)")
    return module, attr


def import_target_module(module: str) -> ModuleType:
    """Import a dotted module (from the current directory too) or a ``.py`` file."""
    if module.endswith(".py"):
        path = Path(module).resolve()
        if not path.is_file():
            raise ServerLoadError(f"no such file: {path}")
        name = path.stem
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ServerLoadError(f"cannot import {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise ServerLoadError(
                f"cannot import module {module!r} ({exc}); run from the project directory or set PYTHONPATH"
            ) from None
        raise


def load_server(target: str) -> EddaMCPServer:
    """The :class:`EddaMCPServer` named by ``target``.

    Without an attribute, the module must hold exactly one server.

    Raises:
        ServerLoadError: the module cannot be imported or holds no (or more than one) server.
    """
    from edda_mcp.server import EddaMCPServer

    module_name, attr = split_target(target)
    module = import_target_module(module_name)
    if attr is not None:
        if not hasattr(module, attr):
            raise ServerLoadError(f"module {module_name!r} has no attribute {attr!r}")
        found = getattr(module, attr)
        if not isinstance(found, EddaMCPServer):
            raise ServerLoadError(f"{module_name}:{attr} is a {type(found).__name__}, not an EddaMCPServer")
        return found
    servers = {name: v for name, v in vars(module).items() if isinstance(v, EddaMCPServer)}
    if len(servers) != 1:
        found_names = ", ".join(sorted(servers)) or "none"
        raise ServerLoadError(
            f"module {module_name!r} must hold exactly one EddaMCPServer (found: {found_names}); "
            "name it as module:attribute"
        )
    return next(iter(servers.values()))
