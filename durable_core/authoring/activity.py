"""``@activity``: a unit of work whose outcome is recorded once and replayed afterwards."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from durable_core.authoring._signature import FunctionShape
from durable_core.authoring.context import WorkflowContext
from durable_core.authoring.saga import Compensation, compensation_of
from durable_core.errors import ConfigurationError, ContextArgumentError
from durable_core.retry import RetryPolicy
from durable_core.validation import MAX_NAME_LENGTH, check_identifier

P = ParamSpec("P")
R = TypeVar("R")


class Activity(Generic[P, R]):
    """A decorated activity. Call it from a workflow as ``await act(ctx, ...)``.

    The history position is taken when the call is made (not when awaited), so ``asyncio.gather``
    of several activities is deterministic without manual ids. Inside a branch of ``ctx.parallel`` the
    position is claimed when the activity runs instead (branches replay in their recorded order). Sync
    functions run in a thread.
    """

    def __init__(
        self,
        fn: Callable[Concatenate[WorkflowContext, P], Any],
        *,
        name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
        compensation: Compensation | None = None,
        at_most_once: bool = False,
        reconcile: Callable[..., Any] | None = None,
        rate_limit: str | None = None,
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"activity timeout must be > 0 seconds, got {timeout}")
        if reconcile is not None and not at_most_once:
            raise ConfigurationError(
                f"activity {name or fn.__name__}: reconcile= only applies to at_most_once=True activities"
            )
        if reconcile is not None and not callable(reconcile):
            raise ConfigurationError(f"reconcile must be callable, got {type(reconcile).__name__}")
        self.fn = fn
        self.name = check_identifier("activity name", name or fn.__name__, limit=MAX_NAME_LENGTH)
        self.retry_policy = retry_policy
        self.timeout = timeout
        self.compensation = compensation or compensation_of(fn)
        self.at_most_once = at_most_once
        self.reconcile = reconcile
        #: name of an app-level ``RateLimit`` every execution takes a grant of (waiting durably for one)
        self.rate_limit = None if rate_limit is None else check_identifier("rate_limit", rate_limit)
        self.reconcile_is_async = reconcile is not None and inspect.iscoroutinefunction(reconcile)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.shape = FunctionShape(fn, "activity")
        self.__doc__ = fn.__doc__
        self.__name__ = self.name
        self.__wrapped__ = fn

    def __call__(self, ctx: WorkflowContext, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """Schedule the activity at the next history position; await the result."""
        if not isinstance(ctx, WorkflowContext):
            raise ContextArgumentError(
                f"activity {self.name} must be called from a workflow (or another activity) with the "
                f"WorkflowContext as first argument, got {type(ctx).__name__}: write "
                f"`await {self.name}(ctx, ...)` in a @workflow and start the workflow; to test the plain "
                f"function, call {self.name}.fn(...) instead"
            )
        activity_id = kwargs.pop("activity_id", None)
        if activity_id is not None and not isinstance(activity_id, str):
            raise TypeError(f"activity_id must be a str, got {type(activity_id).__name__}")
        if ctx.in_activity:
            # Called from inside another activity: plain call, part of the outer activity's attempt.
            return self._call_inline(ctx, args, kwargs)
        runtime = ctx._runtime
        position = runtime.activity_position()
        call = runtime.run_activity(position, self, args, kwargs, activity_id)
        caller = sys._getframe(1)  # the workflow line that made the call, named if it is never awaited
        runtime.track_call(call, self.name, position, f"{caller.f_code.co_filename}:{caller.f_lineno}")
        return call

    async def _call_inline(self, ctx: WorkflowContext, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        result = self.fn(ctx, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<activity {self.name}>"


class _ActivityDecorator(Protocol):
    """Type of ``activity(...)`` with options: keeps the decorated function's parameters and result."""

    @overload
    def __call__(
        self, fn: Callable[Concatenate[WorkflowContext, P], Coroutine[Any, Any, R]], /
    ) -> Activity[P, R]: ...
    @overload
    def __call__(self, fn: Callable[Concatenate[WorkflowContext, P], R], /) -> Activity[P, R]: ...


@overload
def activity(fn: Callable[Concatenate[WorkflowContext, P], Coroutine[Any, Any, R]], /) -> Activity[P, R]: ...
@overload
def activity(fn: Callable[Concatenate[WorkflowContext, P], R], /) -> Activity[P, R]: ...
@overload
def activity(
    *,
    name: str | None = None,
    retry_policy: RetryPolicy | None = None,
    timeout: float | None = None,
    at_most_once: bool = False,
    reconcile: Callable[..., Any] | None = None,
    rate_limit: str | None = None,
) -> _ActivityDecorator: ...
def activity(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry_policy: RetryPolicy | None = None,
    timeout: float | None = None,
    at_most_once: bool = False,
    reconcile: Callable[..., Any] | None = None,
    rate_limit: str | None = None,
) -> Any:
    """Declare an activity (``@activity`` or ``@activity(retry_policy=..., timeout=...)``).

    Args:
        fn: the function; its first parameter receives the :class:`WorkflowContext`.
        name: name recorded in history (defaults to the function name); keep it stable across deploys.
        retry_policy: overrides the app's default retry policy.
        timeout: seconds one attempt may take; a timed-out attempt counts as a retryable failure.
        at_most_once: record "attempt started" before each attempt; an attempt interrupted by a crash
            or a lost lease is never run again blindly (see ``docs/at-most-once.md``).
        reconcile: for at-most-once activities, ``reconcile(ctx, *args, **kwargs)`` decides what an
            interrupted attempt did: ``Happened(result)``, ``DidNotHappen()`` or ``Unknown()``. Without it
            the instance waits for an operator's answer at once.
        rate_limit: name of a ``RateLimit`` in ``EddaApp(rate_limits={...})``, shared by every process:
            each execution (not each retry) takes a grant first; without one free the run parks
            durably until one is (it neither fails nor holds a worker).
    """
    if fn is not None:
        return Activity(fn)

    def wrap(f: Callable[..., Any]) -> Activity[Any, Any]:
        return Activity(
            f,
            name=name,
            retry_policy=retry_policy,
            timeout=timeout,
            at_most_once=at_most_once,
            reconcile=reconcile,
            rate_limit=rate_limit,
        )

    return wrap
