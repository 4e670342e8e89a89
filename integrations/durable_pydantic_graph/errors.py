"""Errors raised by :mod:`durable_pydantic_graph`; all derive from :class:`durable_core.EddaError`.

This module imports nothing from pydantic-graph, so the import guard can raise its error before the
library is known to be installed.
"""

from __future__ import annotations

from durable_core import ConfigurationError, EddaError

INSTALL_HINT = "pip install 'edda-mcp[pydantic-graph]'"


class PydanticGraphNotInstalledError(ConfigurationError, ImportError):
    """pydantic-graph (the extra this package needs) is missing or has an unsupported version."""


class UnsupportedGraphError(ConfigurationError):
    """The graph (or its state) has a shape this integration cannot run durably."""


class RecordedStepError(EddaError):
    """A recorded step result cannot be rebuilt into the graph's objects (the code changed shape)."""
