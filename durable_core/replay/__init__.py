"""Deterministic replay: matching workflow operations to recorded history positions."""

from durable_core.replay.checker import HistorySource, ReplayReport, replay_check, replay_instance
from durable_core.replay.session import ReplaySession
from durable_core.replay.steps import LiveExecutor, PlannedActivity, PlannedCompensation, ReplayMode

__all__ = [
    "HistorySource",
    "LiveExecutor",
    "PlannedActivity",
    "PlannedCompensation",
    "ReplayMode",
    "ReplayReport",
    "ReplaySession",
    "replay_check",
    "replay_instance",
]
