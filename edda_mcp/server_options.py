"""``ServerFeatures``: the optional extensions and tool sets of an ``EddaMCPServer``, resolved once.

The constructor's keywords (``tasks=``, ``apps=``, ``events=``, ``run_control_tools=``) are checked and
turned into this typed, frozen value, which the server's set-up steps read instead of loose flags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from edda_mcp.errors import ToolDefinitionError

__all__ = ["DEFAULT_CONTROL_PREFIX", "ServerFeatures", "control_prefix"]

#: prefix of the run-control admin tools when ``run_control_tools=True``
DEFAULT_CONTROL_PREFIX: Final = "runs"
#: what a tool-name prefix may hold (MCP tool names: letters, digits, ``_``, ``-``, ``.``)
_PREFIX: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def control_prefix(prefix: object) -> str:
    """``prefix`` checked as the name prefix of the run-control tools.

    Raises:
        ToolDefinitionError: not a string of 1-64 letters, digits, ``_``, ``-`` or ``.``.
    """
    if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None:
        raise ToolDefinitionError(
            f"the run-control tool prefix must be 1-64 letters, digits, '_', '-' or '.' (tool names are "
            f"'<prefix>_retry'...), got {prefix!r}"
        )
    return prefix


@dataclass(frozen=True, slots=True)
class ServerFeatures:
    """Which optional parts a server offers.

    Attributes:
        tasks: the tasks extension (2026-07-28) and the 2025-11-25 experimental form.
        apps: a live progress view per durable tool (MCP Apps).
        events: the events extension (run lifecycle events).
        run_control_prefix: prefix of the opt-in run-control admin tools, or None without them.
    """

    tasks: bool = True
    apps: bool = True
    events: bool = True
    run_control_prefix: str | None = None

    @classmethod
    def resolve(
        cls, *, tasks: bool, apps: bool, events: bool, run_control_tools: bool | str
    ) -> ServerFeatures:
        """The features the constructor's keywords ask for.

        ``run_control_tools``: False (none), True (prefix ``runs``) or the prefix to use.

        Raises:
            ToolDefinitionError: ``run_control_tools`` is neither a bool nor a valid prefix.
        """
        if run_control_tools is True:
            prefix: str | None = DEFAULT_CONTROL_PREFIX
        elif run_control_tools is False:
            prefix = None
        else:
            prefix = control_prefix(run_control_tools)
        return cls(tasks=bool(tasks), apps=bool(apps), events=bool(events), run_control_prefix=prefix)
