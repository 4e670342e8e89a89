"""Import guard: fail with a clear message when pydantic-ai is missing or outside the supported range."""

from __future__ import annotations

import importlib.metadata
import re

from durable_pydantic_ai.errors import INSTALL_HINT, PydanticAINotInstalledError

SUPPORTED = "pydantic-ai-slim>=2.60,<3"


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
    major_minor = [int(n) for n in re.findall(r"\d+", version)[:2]]
    if len(major_minor) < 2 or major_minor[0] != 2 or major_minor[1] < 60:
        raise PydanticAINotInstalledError(
            f"durable_pydantic_ai supports {SUPPORTED} but pydantic-ai-slim {version} is installed; "
            f"install a supported version with: {INSTALL_HINT}"
        )
    return version
