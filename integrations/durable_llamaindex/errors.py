"""Errors raised by :mod:`durable_llamaindex`; all derive from :class:`durable_core.EddaError`.

This module imports nothing from LlamaIndex, so the import guard can raise its error before the library
is known to be installed.
"""

from __future__ import annotations

from durable_core import ConfigurationError, TerminalError

INSTALL_HINT = "pip install 'edda-mcp[llamaindex]'"


class LlamaIndexNotInstalledError(ConfigurationError, ImportError):
    """llama-index-workflows (the extra this package needs) is missing or has an unsupported version."""


class RecordedRunError(TerminalError):
    """A recorded checkpoint cannot be rebuilt into LlamaIndex objects (the code changed shape; terminal)."""
