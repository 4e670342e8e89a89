"""Durable pydantic-ai: make a pydantic-ai ``Agent`` durable on :mod:`durable_core`.

``Agent(..., name="x", capabilities=[EddaDurability()])`` plugs into pydantic-ai's own durable-execution
seam (``pydantic_ai.durable_exec``): inside an Edda workflow every model request, tool call and MCP
list/call is one activity recorded as JSON, and deferred tools wait durably. Needs
``pip install 'edda-mcp[pydantic-ai]'`` (``pydantic-ai-slim>=2.60,<3``).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from durable_pydantic_ai._compat import check_pydantic_ai

PYDANTIC_AI_VERSION = check_pydantic_ai()

from durable_pydantic_ai.backend import ActivityConfig, EddaOperationBackend  # noqa: E402
from durable_pydantic_ai.durability import EddaDurability  # noqa: E402
from durable_pydantic_ai.errors import (  # noqa: E402
    INSTALL_HINT,
    AgentMisuseError,
    ModelRequestError,
    ModelRequestRejectedError,
    PydanticAINotInstalledError,
)
from durable_pydantic_ai.events import (  # noqa: E402
    DeferredToolAnswer,
    DurableApprovals,
    EddaEventWaiter,
    approvals,
)

try:
    __version__ = _distribution_version("edda-mcp")  # one version for the whole distribution
except PackageNotFoundError:  # pragma: no cover - imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "INSTALL_HINT",
    "PYDANTIC_AI_VERSION",
    "ActivityConfig",
    "AgentMisuseError",
    "DeferredToolAnswer",
    "DurableApprovals",
    "EddaDurability",
    "EddaEventWaiter",
    "EddaOperationBackend",
    "ModelRequestError",
    "ModelRequestRejectedError",
    "PydanticAINotInstalledError",
    "approvals",
]
