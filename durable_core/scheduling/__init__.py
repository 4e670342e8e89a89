"""Schedules as values: the spec (:class:`Schedule`), the stored view (:class:`ScheduleInfo`) and tick maths.

A leaf package: it imports nothing from storage or the engine, so the authoring API
(``@workflow(schedule=...)``), storage and the engine all share these types.
"""

from durable_core.scheduling.spec import (
    CatchUp,
    Overlap,
    Schedule,
    ScheduleExistsError,
    ScheduleInfo,
    ScheduleNotFoundError,
)
from durable_core.scheduling.ticks import FirePlan, plan_fire, tick_instance_id

__all__ = [
    "CatchUp",
    "FirePlan",
    "Overlap",
    "Schedule",
    "ScheduleExistsError",
    "ScheduleInfo",
    "ScheduleNotFoundError",
    "plan_fire",
    "tick_instance_id",
]
