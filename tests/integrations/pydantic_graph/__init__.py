"""Tests of durable_pydantic_graph."""
