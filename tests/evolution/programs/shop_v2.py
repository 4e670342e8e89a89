"""A "deploy" module for ``edda-mcp replay``: the order workflow with the guarded audit (v2)."""

from tests.evolution.versions import order_v2

__all__ = ["order_v2"]
