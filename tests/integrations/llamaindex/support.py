"""Test helpers shared with the pydantic-graph tests."""

from tests.integrations.pydantic_graph.support import Workers, wait_status

__all__ = ["Workers", "wait_status"]
