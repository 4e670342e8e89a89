"""The host-matrix durable tools served in the compact style (shared ``runs_*`` tools).

Same workflows, waits and run-control admin tools as :mod:`tests.mcp.programs.host_matrix`; serve it with
``edda-mcp serve tests.mcp.programs.host_matrix_compact:server [--transport http ...]``.
"""

from __future__ import annotations

from edda_mcp import EddaMCPServer, ToolStyle
from tests.mcp.programs import host_matrix as hm

server = EddaMCPServer(
    "host-matrix-compact",
    start_wait_seconds=5,
    poll_interval=0.05,
    tool_style=ToolStyle.COMPACT,
    run_control_tools=True,  # the admin tools beside the shared runs_* tools
)
for source in hm.server.durable_tools.values():
    server.durable_tool(
        source.workflow,
        name=source.spec.name,
        description=source.spec.description,
        wait_seconds=source.spec.wait_seconds,
        human_input=source.spec.human_input,
    )
