"""Edda MCP: the MCP server, CLI and HTTP app built on :mod:`durable_core`.

Placeholder: the package arrives with its issue (see DESIGN.md section 5).
"""
