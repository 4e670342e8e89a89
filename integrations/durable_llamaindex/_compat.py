"""Import guard: fail clearly when llama-index-workflows is missing or outside the supported range."""

from __future__ import annotations

import importlib.metadata

from durable_llamaindex.errors import INSTALL_HINT, LlamaIndexNotInstalledError

REQUIREMENT = "llama-index-workflows>=2.26,<3"
SUPPORTED_MAJOR = 2
MINIMUM = (2, 26)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_llamaindex() -> str:
    """Return the installed llama-index-workflows version, or raise :class:`LlamaIndexNotInstalledError`.

    Raises:
        LlamaIndexNotInstalledError: the library is not installed, or its version is not ``>=2.26,<3``.
    """
    try:
        version = importlib.metadata.version("llama-index-workflows")
        import workflows  # noqa: F401
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        raise LlamaIndexNotInstalledError(
            f"durable_llamaindex needs {REQUIREMENT}, which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    parsed = _version_tuple(version)
    if parsed[:1] != (SUPPORTED_MAJOR,) or parsed[:2] < MINIMUM:
        raise LlamaIndexNotInstalledError(
            f"durable_llamaindex supports {REQUIREMENT} but llama-index-workflows {version} is installed; "
            f"install a supported version with: {INSTALL_HINT}"
        )
    return version
