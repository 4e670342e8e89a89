"""Errors raised by :mod:`durable_pydantic_ai`; all derive from :class:`durable_core.EddaError`.

This module imports nothing from pydantic-ai, so the import guard can raise its error before
pydantic-ai is known to be installed.
"""

from __future__ import annotations

from durable_core import ConfigurationError, EddaError, TerminalError

INSTALL_HINT = "pip install 'edda-mcp[pydantic-ai]'"


class PydanticAINotInstalledError(ConfigurationError, ImportError):
    """pydantic-ai-slim (the extra this package needs) is missing or has an unsupported version."""


class AgentMisuseError(TerminalError):
    """pydantic-ai refused how the agent is used (a ``UserError``); retrying cannot help, so it fails at once."""


class ModelRequestRejectedError(TerminalError):
    """The provider rejected the model request (a 4xx other than 408/409/429); not retried.

    Attributes:
        status_code: the HTTP status the provider answered with.
    """

    def __init__(self, message: str, status_code: int = 0) -> None:
        super().__init__(message, status_code)
        self.status_code = status_code

    def __str__(self) -> str:
        return f"model request rejected ({self.status_code}): {self.args[0]}"


class ModelRequestError(EddaError):
    """A model request failed at the provider (rate limit, server error, ...); retried by the activity.

    Attributes:
        status_code: the HTTP status, 0 when the failure was not an HTTP answer.
    """

    def __init__(self, message: str, status_code: int = 0) -> None:
        super().__init__(message, status_code)
        self.status_code = status_code

    def __str__(self) -> str:
        return f"model request failed ({self.status_code}): {self.args[0]}"
