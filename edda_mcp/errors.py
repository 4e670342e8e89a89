"""Errors raised by :mod:`edda_mcp`; all derive from :class:`durable_core.EddaError`."""

from __future__ import annotations

from durable_core import EddaError


class EddaMCPError(EddaError):
    """Base class of the MCP server's own errors."""


class ToolDefinitionError(EddaMCPError):
    """A durable tool cannot be defined as asked (name clash, reserved parameter name, ...)."""


class ServerLoadError(EddaMCPError):
    """A ``module:attribute`` path does not name an importable :class:`EddaMCPServer`."""


class AccessDeniedError(EddaMCPError):
    """The authenticated principal may not see or change this instance."""


class HttpConfigError(EddaMCPError):
    """HTTP serving options that cannot work (bad public URL, body limit, auth flags that do not fit)."""
