"""Durable Mirascope: durable LLM calls, tool calls and agent loops on :mod:`durable_core`.

Placeholder: the package arrives with its issue (see DESIGN.md section 6).
Install its upstream with ``pip install 'edda-mcp[mirascope]'``.
"""
