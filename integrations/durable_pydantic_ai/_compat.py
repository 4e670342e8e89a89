"""Import guard: fail with a clear message when pydantic-ai is missing or outside the supported range."""

from __future__ import annotations

import importlib.metadata

from durable_pydantic_ai.errors import INSTALL_HINT, PydanticAINotInstalledError

SUPPORTED_MAJOR = 2
MINIMUM = (2, 60)
SUPPORTED = "pydantic-ai-slim>=2.60,<3"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_pydantic_ai() -> str:
    """Return the installed pydantic-ai-slim version, or raise :class:`PydanticAINotInstalledError`.

    Raises:
        PydanticAINotInstalledError: pydantic-ai-slim is not installed, or its version is not supported.
    """
    try:
        version = importlib.metadata.version("pydantic-ai-slim")
        import pydantic_ai.durable_exec  # noqa: F401
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        raise PydanticAINotInstalledError(
            f"durable_pydantic_ai needs {SUPPORTED} which is not installed ({exc}); install it with: {INSTALL_HINT}"
        ) from exc
    parsed = _version_tuple(version)
    if parsed[:1] != (SUPPORTED_MAJOR,) or parsed[:2] < MINIMUM:
        raise PydanticAINotInstalledError(
            f"durable_pydantic_ai supports {SUPPORTED} but pydantic-ai-slim {version} is installed; "
            f"install a supported version with: {INSTALL_HINT}"
        )
    return version
