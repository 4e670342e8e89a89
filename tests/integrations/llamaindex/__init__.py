"""Tests of durable_llamaindex."""
