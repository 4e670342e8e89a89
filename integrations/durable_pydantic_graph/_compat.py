"""Import guard: fail with a clear message when pydantic-graph is missing or outside the supported range."""

from __future__ import annotations

import importlib.metadata

from durable_pydantic_graph.errors import INSTALL_HINT, PydanticGraphNotInstalledError

SUPPORTED_MAJOR = 2
REQUIREMENT = "pydantic-graph>=2,<3"


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    digits = "".join(ch for ch in head if ch.isdigit())
    return int(digits) if digits else 0


def check_pydantic_graph() -> str:
    """Return the installed pydantic-graph version, or raise :class:`PydanticGraphNotInstalledError`.

    Raises:
        PydanticGraphNotInstalledError: pydantic-graph is not installed, or not version 2.x.
    """
    try:
        version = importlib.metadata.version("pydantic-graph")
        import pydantic_graph  # noqa: F401
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        raise PydanticGraphNotInstalledError(
            f"durable_pydantic_graph needs {REQUIREMENT}, which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    if _major(version) != SUPPORTED_MAJOR:
        raise PydanticGraphNotInstalledError(
            f"durable_pydantic_graph supports {REQUIREMENT} but pydantic-graph {version} is installed; "
            f"install a supported version with: {INSTALL_HINT}"
        )
    return version
