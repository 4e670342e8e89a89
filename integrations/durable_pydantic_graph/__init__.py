"""Durable pydantic-graph: pydantic-graph graphs whose steps are durable activities.

Placeholder: the package arrives with its issue (see DESIGN.md section 6).
Install its upstream with ``pip install 'edda-mcp[pydantic-graph]'``.
"""
