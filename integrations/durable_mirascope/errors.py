"""Errors raised by :mod:`durable_mirascope`; all derive from :class:`durable_core.EddaError`.

This module imports nothing from mirascope, so the import guard can raise its error before mirascope
is known to be installed.
"""

from __future__ import annotations

from durable_core import ConfigurationError, EddaError, TerminalError

INSTALL_HINT = "pip install 'edda-mcp[mirascope]'"


class MirascopeNotInstalledError(ConfigurationError, ImportError):
    """Mirascope (the extra this package needs) is missing or has an unsupported version."""


class AgentStepLimitError(TerminalError):
    """A durable agent loop made ``max_steps`` model requests and the model still asked for tools."""


class RecordedResponseError(TerminalError):
    """A model response or tool output cannot be recorded, or rebuilt into mirascope objects (not retried)."""


class ModelOverrideError(TerminalError):
    """A ``with llm.model(...)`` override is active around a durable call that names another model.

    The model of a durable call is part of its code-side configuration, so a context override would be
    applied to some requests (live) and not reflected in what a replay or another process does; it is
    refused at once rather than silently ignored. Pass the model to ``durable_call(model, ...)`` instead.
    """


class UnsupportedToolError(TerminalError):
    """A tool or prompt shape this integration cannot run durably (e.g. mirascope context tools; terminal)."""


class ModelRequestError(EddaError):
    """A model request failed at the provider (rate limit, server error, timeout, ...); retried.

    Mirascope's own provider errors are not rebuilt exactly from history, so they are recorded as this
    error, whose every attribute is part of ``args``.

    Attributes:
        message: the provider error's message.
        error_type: ``module:QualName`` of the mirascope error (e.g. ``...:RateLimitError``).
        status_code: HTTP status, when the provider reported one.
    """

    def __init__(self, message: str, error_type: str = "", status_code: int | None = None) -> None:
        super().__init__(message, error_type, status_code)
        self.message = message
        self.error_type = error_type
        self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.error_type.rsplit(':', 1)[-1] or 'model request failed'}: {self.message}"


class ModelRequestRejectedError(ModelRequestError, TerminalError):
    """The provider rejected the request (bad request, authentication, permission, unknown model...).

    Retrying cannot help, so the activity fails at once.
    """
