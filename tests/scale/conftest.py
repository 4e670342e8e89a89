"""Fixtures for scale tests: the crash tests' worker subprocesses and side-effect log."""

from tests.crash.conftest import effects, workers

__all__ = ["effects", "workers"]
