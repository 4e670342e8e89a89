"""Tests of the integration packages (durable_mirascope, durable_llamaindex, durable_pydantic_graph)."""
