"""The engine: starts, dispatches, resumes and cancels instances; owns storage, clock and catalog."""

from durable_core.engine.app import EddaApp
from durable_core.engine.handle import WorkflowHandle
from durable_core.engine.options import AppOptions, IngressOptions, OutboxOptions, WorkerOptions
from durable_core.engine.retention import RetentionPolicy

__all__ = [
    "AppOptions",
    "EddaApp",
    "IngressOptions",
    "OutboxOptions",
    "RetentionPolicy",
    "WorkerOptions",
    "WorkflowHandle",
]
