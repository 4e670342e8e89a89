"""How a server lays out its tools: four/five per durable tool, or one start tool each plus shared ones."""

from __future__ import annotations

import enum


class ToolStyle(enum.StrEnum):
    """The tool layout of an :class:`~edda_mcp.EddaMCPServer`.

    ``FULL`` (the default) gives every durable tool its own ``<name>``, ``<name>_status``,
    ``<name>_result``, ``<name>_cancel`` (and ``<name>_respond``). ``COMPACT`` keeps one start tool per
    durable tool and adds the shared :data:`RUNS_STATUS`, :data:`RUNS_RESULT`, :data:`RUNS_CANCEL`,
    :data:`RUNS_LIST` (and :data:`RUNS_RESPOND` when a tool takes human input), for hosts where many
    tools crowd the model's context.
    """

    FULL = "full"
    COMPACT = "compact"


RUNS_STATUS = "runs_status"
RUNS_RESULT = "runs_result"
RUNS_CANCEL = "runs_cancel"
RUNS_RESPOND = "runs_respond"
RUNS_LIST = "runs_list"
SHARED_TOOL_NAMES = frozenset({RUNS_STATUS, RUNS_RESULT, RUNS_CANCEL, RUNS_RESPOND, RUNS_LIST})
"""Names the compact style reserves (a durable tool cannot be called one of them)."""
