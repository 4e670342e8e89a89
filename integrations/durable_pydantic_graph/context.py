"""Steps that run in the workflow body instead of as activities, so they can wait durably.

A step or node marked with :func:`workflow_step` is not recorded as an activity: it runs (and is
replayed) in the workflow body, where it may call durable waits such as ``durable_core.sleep`` or
``wait_event`` with the context returned by :func:`workflow_context`. Like any workflow code it
must be deterministic: no I/O, no clocks, no randomness except through the durable context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from durable_core import EddaError, WorkflowContext

__all__ = ["runs_in_workflow", "workflow_context", "workflow_step"]

T = TypeVar("T")

_MARK = "__edda_workflow_step__"
_CURRENT: ContextVar[WorkflowContext | None] = ContextVar("durable_pydantic_graph_context", default=None)


def workflow_step(target: T) -> T:
    """Mark a step function or ``BaseNode`` class to run in the workflow body (not as an activity).

    Put it *below* ``@graph_builder.step`` (so the builder wraps the marked function). Use it for steps
    that wait (timers, events) or only route; do side effects in ordinary steps.

    Args:
        target: an async step function or a ``BaseNode`` subclass.

    Returns:
        The same object, marked.
    """
    setattr(target, _MARK, True)
    return target


def runs_in_workflow(target: Any) -> bool:
    """True when ``target`` (a step function or node class) was marked with :func:`workflow_step`."""
    return bool(getattr(target, _MARK, False))


def workflow_context() -> WorkflowContext:
    """The :class:`WorkflowContext` of the durable graph run this step belongs to.

    Raises:
        EddaError: called outside a step marked with :func:`workflow_step` of a running durable graph.
    """
    ctx = _CURRENT.get()
    if ctx is None:
        raise EddaError(
            "workflow_context() is only available in steps marked @workflow_step while a DurableGraph runs"
        )
    return ctx


@contextmanager
def bound_context(ctx: WorkflowContext | None) -> Iterator[None]:
    """Make ``ctx`` what :func:`workflow_context` returns inside the block (``None`` hides it)."""
    token = _CURRENT.set(ctx)
    try:
        yield
    finally:
        _CURRENT.reset(token)
