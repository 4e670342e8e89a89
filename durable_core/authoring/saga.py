"""Saga support: compensations that undo completed activities, run in reverse order on failure or cancel."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from durable_core.errors import ApiMisuseError, ConfigurationError
from durable_core.retry import RetryPolicy

if TYPE_CHECKING:
    from durable_core.authoring.context import WorkflowContext

F = TypeVar("F", bound=Callable[..., Any])

_COMPENSATION_ATTR = "__edda_compensation__"


class Compensation:
    """A compensation function: ``fn(ctx, *activity_args, **activity_kwargs[, result=...])``.

    If the function declares a parameter named ``result``, it receives the compensated activity's
    result. Compensations are journaled (each runs at most once to completion) and retried with
    their retry policy.
    """

    def __init__(
        self, fn: Callable[..., Any], *, name: str | None = None, retry_policy: RetryPolicy | None = None
    ):
        if not callable(fn):
            raise ConfigurationError(f"compensation must be callable, got {fn!r}")
        self.fn = fn
        self.name = name or fn.__name__
        self.retry_policy = retry_policy
        self.is_async = inspect.iscoroutinefunction(fn)
        self.wants_result = "result" in inspect.signature(fn).parameters

    async def __call__(self, ctx: WorkflowContext, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly (not durable); the engine uses :class:`CompensationCall`."""
        result = self.fn(ctx, *args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


@dataclass(frozen=True, slots=True)
class CompensationCall:
    """A registered compensation with the arguments it will be called with."""

    compensation: Compensation
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@overload
def compensation(fn: F, /) -> Compensation: ...
@overload
def compensation(
    *, name: str | None = None, retry_policy: RetryPolicy | None = None
) -> Callable[[F], Compensation]: ...
def compensation(
    fn: F | None = None, /, *, name: str | None = None, retry_policy: RetryPolicy | None = None
) -> Compensation | Callable[[F], Compensation]:
    """Declare a compensation function (use with :func:`on_failure` or :func:`register_compensation`)."""
    if fn is not None:
        return Compensation(fn)

    def wrap(f: F) -> Compensation:
        return Compensation(f, name=name, retry_policy=retry_policy)

    return wrap


def as_compensation(obj: Any) -> Compensation:
    """Accept a :class:`Compensation` or a plain callable."""
    return obj if isinstance(obj, Compensation) else Compensation(obj)


def on_failure(comp: Compensation | Callable[..., Awaitable[Any]] | Callable[..., Any]) -> Callable[[F], F]:
    """Attach a compensation to an activity; it runs with the activity's arguments if the workflow fails.

    Works below or above ``@activity``.
    """
    compensation_obj = as_compensation(comp)

    def attach(target: F) -> F:
        from durable_core.authoring.activity import Activity

        if isinstance(target, Activity):
            target.compensation = compensation_obj
        else:
            setattr(target, _COMPENSATION_ATTR, compensation_obj)
        return target

    return attach


def compensation_of(fn: Callable[..., Any]) -> Compensation | None:
    """The compensation attached to a raw function by :func:`on_failure`, if any."""
    value = getattr(fn, _COMPENSATION_ATTR, None)
    return value if isinstance(value, Compensation) else None


class Registered:
    """Returned by :func:`register_compensation`; awaiting it is optional (the seed's API was async)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


def register_compensation(
    ctx: WorkflowContext, comp: Compensation | Callable[..., Any], /, *args: Any, **kwargs: Any
) -> Registered:
    """Register a compensation from a workflow body, called with ``args``/``kwargs`` if the workflow fails.

    It takes effect immediately; ``await register_compensation(...)`` (the seed's form) works too.
    """
    if ctx.in_activity:
        raise ApiMisuseError(
            "register_compensation() must be called from the workflow body, not an activity: call it in "
            "the workflow after the activity returns (or declare the activity with @on_failure)"
        )
    ctx._runtime.register_compensation(CompensationCall(as_compensation(comp), args, dict(kwargs)))
    return Registered()
