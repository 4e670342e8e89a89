"""Durable LlamaIndex: LlamaIndex Workflows whose completed steps never re-run after a crash.

:class:`DurableLlamaWorkflow` runs a ``workflows.Workflow`` (``llama_index.core.workflow``) inside a
durable workflow: every finished step is recorded as a checkpoint (the step's streamed events and
LlamaIndex's own resumable ``Context`` snapshot, including ``ctx.store``), a resume continues from the
last checkpoint, and ``InputRequiredEvent`` waits durably for a human response sent with
``app.send_event``.

Needs the ``llamaindex`` extra: ``pip install 'edda-mcp[llamaindex]'``.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from durable_llamaindex._compat import check_llamaindex

LLAMAINDEX_WORKFLOWS_VERSION = check_llamaindex()

from durable_llamaindex._records import Checkpoint, CheckpointKind, decode_event, encode_event  # noqa: E402
from durable_llamaindex.errors import INSTALL_HINT, LlamaIndexNotInstalledError, RecordedRunError  # noqa: E402
from durable_llamaindex.workflow import (  # noqa: E402
    DEFAULT_RESPONSE_EVENT_TYPE,
    DurableLlamaWorkflow,
    EventCallback,
)

try:
    __version__ = _distribution_version("edda-mcp")  # one version for the whole distribution
except PackageNotFoundError:  # pragma: no cover - imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_RESPONSE_EVENT_TYPE",
    "INSTALL_HINT",
    "LLAMAINDEX_WORKFLOWS_VERSION",
    "Checkpoint",
    "CheckpointKind",
    "DurableLlamaWorkflow",
    "EventCallback",
    "LlamaIndexNotInstalledError",
    "RecordedRunError",
    "decode_event",
    "encode_event",
]
