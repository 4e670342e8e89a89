"""Import guard: fail with a clear message when mirascope is missing or outside the supported range."""

from __future__ import annotations

import importlib.metadata

from durable_mirascope.errors import INSTALL_HINT, MirascopeNotInstalledError

SUPPORTED_MAJOR = 2
MINIMUM = (2, 8)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_mirascope() -> str:
    """Return the installed mirascope version, or raise :class:`MirascopeNotInstalledError`.

    Raises:
        MirascopeNotInstalledError: mirascope is not installed, or its version is not ``>=2.8,<3``.
    """
    try:
        version = importlib.metadata.version("mirascope")
        import mirascope.llm  # noqa: F401
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        raise MirascopeNotInstalledError(
            f"durable_mirascope needs mirascope>=2.8,<3 which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    parsed = _version_tuple(version)
    if parsed[:1] != (SUPPORTED_MAJOR,) or parsed[:2] < MINIMUM:
        raise MirascopeNotInstalledError(
            f"durable_mirascope supports mirascope>=2.8,<3 but mirascope {version} is installed; "
            f"install a supported version with: {INSTALL_HINT}"
        )
    return version
