"""Durable LlamaIndex: LlamaIndex Workflows whose completed steps never re-run after a crash.

Placeholder: the package arrives with its issue (see DESIGN.md section 6).
Install its upstream with ``pip install 'edda-mcp[llamaindex]'``.
"""
