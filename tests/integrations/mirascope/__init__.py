"""Tests of durable_mirascope (offline, with a registered scripted mirascope provider)."""
