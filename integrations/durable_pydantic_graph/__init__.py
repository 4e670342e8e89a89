"""Durable pydantic-graph: run pydantic-graph 2.x graphs inside durable workflows.

Every builder step and ``BaseNode`` node becomes an activity (``<graph>.<node>``, ids
``<graph>.<node>#<n>``) whose output and resulting state are recorded as JSON and rebuilt into real
objects on replay, so a crashed graph resumes after its last completed step. Steps marked with
:func:`workflow_step` run in the workflow body and may wait durably (timers, events).

Needs the ``pydantic-graph`` extra: ``pip install 'edda-mcp[pydantic-graph]'``.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from durable_pydantic_graph._compat import check_pydantic_graph

PYDANTIC_GRAPH_VERSION = check_pydantic_graph()

from durable_pydantic_graph._records import OutputKind, StepRecord  # noqa: E402
from durable_pydantic_graph.context import runs_in_workflow, workflow_context, workflow_step  # noqa: E402
from durable_pydantic_graph.errors import (  # noqa: E402
    INSTALL_HINT,
    PydanticGraphNotInstalledError,
    RecordedStepError,
    UnsupportedGraphError,
)
from durable_pydantic_graph.graph import DurableGraph  # noqa: E402

try:
    __version__ = _distribution_version("edda-mcp")  # one version for the whole distribution
except PackageNotFoundError:  # pragma: no cover - imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "INSTALL_HINT",
    "PYDANTIC_GRAPH_VERSION",
    "DurableGraph",
    "OutputKind",
    "PydanticGraphNotInstalledError",
    "RecordedStepError",
    "StepRecord",
    "UnsupportedGraphError",
    "runs_in_workflow",
    "workflow_context",
    "workflow_step",
]
