"""Durable Mirascope: durable LLM calls, tool calls and agent loops on :mod:`durable_core`.

Each model request and each tool call is an activity with a stable name (``mirascope.call:<prompt>``,
``mirascope.resume:<prompt>``, ``mirascope.tool:<tool>``, ...) whose result is recorded as JSON and
rebuilt into a real mirascope response on replay. Needs ``pip install 'edda-mcp[mirascope]'``
(mirascope ``>=2.8,<3``).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from durable_mirascope._compat import check_mirascope

MIRASCOPE_VERSION = check_mirascope()

from durable_mirascope._ops import CallSpec  # noqa: E402
from durable_mirascope.agent import AgentResult, run_agent  # noqa: E402
from durable_mirascope.call import DurableCall, durable, durable_call  # noqa: E402
from durable_mirascope.errors import (  # noqa: E402
    INSTALL_HINT,
    AgentStepLimitError,
    MirascopeNotInstalledError,
    ModelOverrideError,
    ModelRequestError,
    ModelRequestRejectedError,
    RecordedResponseError,
    UnsupportedToolError,
)
from durable_mirascope.request import model_request  # noqa: E402
from durable_mirascope.response import DurableResponse  # noqa: E402
from durable_mirascope.tools import execute_tools  # noqa: E402
from durable_mirascope.usage import TokenUsage, instance_usage, usage_of  # noqa: E402

try:
    __version__ = _distribution_version("edda-mcp")  # one version for the whole distribution
except PackageNotFoundError:  # pragma: no cover - imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "INSTALL_HINT",
    "MIRASCOPE_VERSION",
    "AgentResult",
    "AgentStepLimitError",
    "CallSpec",
    "DurableCall",
    "DurableResponse",
    "MirascopeNotInstalledError",
    "ModelOverrideError",
    "ModelRequestError",
    "ModelRequestRejectedError",
    "RecordedResponseError",
    "TokenUsage",
    "UnsupportedToolError",
    "durable",
    "durable_call",
    "execute_tools",
    "instance_usage",
    "model_request",
    "run_agent",
    "usage_of",
]
