"""A "deploy" module for ``edda-mcp replay``: the order workflow with an unguarded audit."""

from tests.evolution.versions import order_unguarded

__all__ = ["order_unguarded"]
