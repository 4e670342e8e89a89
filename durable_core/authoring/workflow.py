"""``@workflow``: an async orchestration function that is replayed from its history on every resume."""

from __future__ import annotations

import inspect
import math
import weakref
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any, Concatenate, Generic, NoReturn, ParamSpec, Protocol, TypeVar, overload

from pydantic import ValidationError

from durable_core.authoring._signature import FunctionShape
from durable_core.authoring.budget import Budget, split_budget, with_budget
from durable_core.authoring.catalog import DEFAULT_CATALOG, Catalog
from durable_core.authoring.context import WorkflowContext
from durable_core.errors import ApiMisuseError, AppNotBoundError, ConfigurationError, InputValidationError
from durable_core.flow import FlowOptions, OnConflict
from durable_core.scheduling.spec import Schedule
from durable_core.serialization import convert, to_json_value
from durable_core.types import JsonValue
from durable_core.validation import MAX_NAME_LENGTH, check_identifier

P = ParamSpec("P")
R = TypeVar("R")


class WorkflowStarter(Protocol):
    """What a workflow needs from an app to start itself (implemented by ``EddaApp``)."""

    async def start(
        self,
        workflow: Workflow[Any, Any] | str,
        arguments: Mapping[str, Any] | None = None,
        *,
        instance_id: str | None = None,
        options: FlowOptions | None = None,
    ) -> str:
        """Durably create an instance and return its id."""
        ...

    async def wait_result(self, instance_id: str, timeout: float | None = None) -> Any:
        """Wait for an instance to finish and return its typed result."""
        ...


class Workflow(Generic[P, R]):
    """A decorated workflow.

    ``await wf.start(**kwargs)`` stores a new instance and returns its id at once; the body runs in the
    background. Inputs are validated from the type hints (pydantic) before anything is stored.
    """

    def __init__(
        self,
        fn: Callable[Concatenate[WorkflowContext, P], Coroutine[Any, Any, R]],
        *,
        name: str | None = None,
        timeout: float | None = None,
        schedule: Schedule | str | None = None,
        queue: str | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise ConfigurationError(f"workflow {fn.__qualname__} must be an async function")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"workflow timeout must be > 0 seconds, got {timeout}")
        self.fn = fn
        self.name = check_identifier("workflow name", name or fn.__name__, limit=MAX_NAME_LENGTH)
        self.timeout = timeout
        self.schedule = _declared_schedule(self.name, schedule)
        #: the queue its instances are started in unless ``with_options(queue=...)`` says otherwise
        self.queue = None if queue is None else check_identifier("queue", queue, limit=MAX_NAME_LENGTH)
        self.shape = FunctionShape(fn, "workflow")
        for param in self.shape.params:
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise ConfigurationError(
                    f"workflow {self.name}: *args/**kwargs parameters are not supported; name each input"
                )
        self._apps: weakref.WeakSet[Any] = weakref.WeakSet()
        self.__doc__ = fn.__doc__
        self.__name__ = self.name
        self.__wrapped__ = fn

    # -- inputs and outputs --------------------------------------------------------------------
    def encode_arguments(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, JsonValue]:
        """Bind and validate call arguments into the JSON input that is stored.

        Raises:
            InputValidationError: naming the missing, unexpected or invalid field.
        """
        kwargs, budget = split_budget(dict(kwargs))  # a budget rides along (see with_options)
        try:
            bound = self.shape.signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise InputValidationError(f"workflow {self.name}: {exc}") from None
        bound.apply_defaults()
        encoded: dict[str, JsonValue] = {}
        for param in self.shape.params:
            value = bound.arguments[param.name]
            encoded[param.name] = self._validate_field(param.name, value)
        return with_budget(encoded, budget)

    def _validate_field(self, field: str, value: Any) -> JsonValue:
        try:
            typed = convert(value, self.shape.annotation(field))
            encoded = to_json_value(typed)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in (field, *err['loc']))}: {err['msg']}" for err in exc.errors()
            )
            raise InputValidationError(f"workflow {self.name}: invalid input {details}") from None
        except TypeError as exc:
            raise InputValidationError(f"workflow {self.name}: input {field!r}: {exc}") from None
        bad = _non_finite_path(encoded, field)
        if bad is not None:  # JSON has no NaN/Infinity: refuse it here, naming the field, not in storage
            raise InputValidationError(
                f"workflow {self.name}: invalid input {bad}: NaN and Infinity are not JSON numbers"
            )
        return encoded

    def decode_arguments(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Rebuild typed keyword arguments from the stored JSON input (without its budget, if any)."""
        stored, _ = split_budget(stored)
        names = {p.name for p in self.shape.params}
        unknown = set(stored) - names
        if unknown:
            raise InputValidationError(
                f"workflow {self.name}: stored input has unknown fields {sorted(unknown)}"
            )
        return {name: convert(value, self.shape.annotation(name)) for name, value in stored.items()}

    def encode_result(self, value: Any) -> Any:
        """Validate the body's return value against the return annotation (bytes pass through)."""
        annotation = self.shape.return_annotation
        if isinstance(value, bytes | bytearray) or annotation is Any:
            return value
        try:
            return convert(value, annotation)
        except ValidationError as exc:
            raise InputValidationError(f"workflow {self.name} returned an invalid result: {exc}") from None

    def decode_result(self, stored: Any) -> R:
        """Rebuild the typed result from the stored JSON (or bytes)."""
        return convert(stored, self.shape.return_annotation)  # type: ignore[no-any-return]

    # -- starting ------------------------------------------------------------------------------
    def _bind_app(self, app: WorkflowStarter) -> None:
        self._apps.add(app)

    def _unbind_app(self, app: WorkflowStarter) -> None:
        self._apps.discard(app)

    def _resolve_app(self, app: WorkflowStarter | None) -> WorkflowStarter:
        if app is not None:
            return app
        apps = list(self._apps)
        if len(apps) == 1:
            return apps[0]  # type: ignore[no-any-return]
        if not apps:
            raise AppNotBoundError(
                f"workflow {self.name} is not served by an initialized EddaApp; call `await app.initialize()` "
                "first or use wf.with_options(app=app)"
            )
        raise AppNotBoundError(
            f"workflow {self.name} is served by {len(apps)} apps; choose one with wf.with_options(app=app)"
        )

    async def start(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Durably create an instance and return its id; the body runs in the background."""
        return await self.with_options().start(*args, **kwargs)

    async def start_and_wait(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Start an instance and wait (without a time limit) for its typed result."""
        return await self.with_options().start_and_wait(*args, **kwargs)

    def with_options(
        self,
        *,
        app: WorkflowStarter | None = None,
        instance_id: str | None = None,
        wait_timeout: float | None = None,
        queue: str | None = None,
        queue_key: str | None = None,
        priority: int = 0,
        debounce_key: str | None = None,
        debounce: timedelta | None = None,
        singleton_key: str | None = None,
        on_conflict: OnConflict | str = OnConflict.RETURN,
        budget: Budget | None = None,
    ) -> BoundWorkflow[P, R]:
        """Start options that cannot be keyword arguments of the workflow itself.

        Args:
            app: the app to start on (required when several apps serve this workflow).
            instance_id: caller-chosen id, also the idempotency key: starting again with the same id
                and the same input returns the existing instance; different input raises
                ``InstanceConflictError``.
            wait_timeout: seconds ``start_and_wait`` waits before raising ``ResultTimeoutError``.
            queue: the app queue to run in (overrides ``@workflow(queue=...)``); see ``docs/queues.md``.
            queue_key: the key for the queue's per-key concurrency and round-robin fairness (a tenant).
            priority: higher runs first within the queue (when the queue honours priorities).
            debounce_key: starts with the same key within ``debounce`` of the previous one coalesce:
                only the last one's input runs, once, ``debounce`` after the last start; every caller
                gets the id of that one instance.
            debounce: the debounce window (a ``timedelta``; given together with ``debounce_key``).
            singleton_key: at most one unfinished instance of this workflow per key (see
                ``docs/queues.md``); what another start does while the key is held is ``on_conflict``.
            on_conflict: ``"return"`` (default): store nothing and return the holder's id.
                ``"queue"``: store a new instance (its own id and input, status QUEUED) and return its
                id; it runs once the holder ended (completed, failed, cancelled or terminated) and the
                queued starts before it ran, one at a time, oldest first. Cancelling a queued start
                takes it out of the line.
            budget: an LLM :class:`Budget` (tokens and/or cost) stored with the instance and enforced by
                the LLM integrations (see ``docs/budgets.md``).
        """
        try:
            conflict = OnConflict(on_conflict)
        except ValueError:
            raise ConfigurationError(
                f"on_conflict must be 'return' or 'queue', got {on_conflict!r}"
            ) from None
        flow = FlowOptions(queue, queue_key, priority, debounce_key, debounce, singleton_key, conflict)
        if instance_id is not None and (debounce_key is not None or singleton_key is not None):
            raise ConfigurationError("instance_id cannot be combined with debounce_key or singleton_key")
        return BoundWorkflow(self, app, instance_id, wait_timeout, None if flow.is_default else flow, budget)

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Calling a workflow like a function does not run it durably: raise, saying what to call."""
        raise ApiMisuseError(
            f"workflow {self.name} is not called directly: start it with `await {self.name}.start(...)` "
            f"(or start_and_wait), or from another workflow with `await run_child(ctx, {self.name}, ...)`"
        )

    def __repr__(self) -> str:
        return f"<workflow {self.name}>"


class BoundWorkflow(Generic[P, R]):
    """A workflow plus start options; see :meth:`Workflow.with_options`."""

    def __init__(
        self,
        workflow: Workflow[P, R],
        app: WorkflowStarter | None,
        instance_id: str | None,
        wait_timeout: float | None,
        flow: FlowOptions | None = None,
        budget: Budget | None = None,
    ) -> None:
        self._workflow = workflow
        self._app = app
        self._instance_id = instance_id
        self._wait_timeout = wait_timeout
        self._flow = flow
        self._budget = budget

    async def start(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Durably create an instance and return its id."""
        wf = self._workflow
        app = wf._resolve_app(self._app)
        arguments = with_budget(wf.encode_arguments(args, kwargs), self._budget)
        return await app.start(wf, arguments, instance_id=self._instance_id, options=self._flow)

    async def start_and_wait(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Start and wait for the typed result (``wait_timeout`` bounds the wait)."""
        wf = self._workflow
        app = wf._resolve_app(self._app)
        arguments = with_budget(wf.encode_arguments(args, kwargs), self._budget)
        instance_id = await app.start(wf, arguments, instance_id=self._instance_id, options=self._flow)
        return await app.wait_result(instance_id, timeout=self._wait_timeout)  # type: ignore[no-any-return]


def _non_finite_path(value: JsonValue, path: str) -> str | None:
    """Dotted path of the first NaN/Infinity inside a JSON value (None if there is none)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        items: list[tuple[str, JsonValue]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return None
    for key, item in items:
        found = _non_finite_path(item, f"{path}.{key}")
        if found is not None:
            return found
    return None


def _declared_schedule(name: str, schedule: Schedule | str | None) -> Schedule | None:
    """``schedule=`` of ``@workflow``: a cron string or a :class:`Schedule` (ConfigurationError if invalid)."""
    if schedule is None or isinstance(schedule, Schedule):
        return schedule
    try:
        return Schedule(cron=schedule)
    except InputValidationError as exc:
        raise ConfigurationError(f"workflow {name}: schedule= {exc}") from None


@overload
def workflow(fn: Callable[Concatenate[WorkflowContext, P], Coroutine[Any, Any, R]], /) -> Workflow[P, R]: ...
@overload
def workflow(
    *,
    name: str | None = None,
    timeout: float | None = None,
    catalog: Catalog | None = None,
    schedule: Schedule | str | None = None,
    queue: str | None = None,
) -> Callable[[Callable[Concatenate[WorkflowContext, P], Coroutine[Any, Any, R]]], Workflow[P, R]]: ...
def workflow(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    catalog: Catalog | None = None,
    schedule: Schedule | str | None = None,
    queue: str | None = None,
) -> Any:
    """Declare a workflow (``@workflow`` or ``@workflow(name=..., timeout=...)``).

    Args:
        fn: async function whose first parameter is the :class:`WorkflowContext`.
        name: stable name stored with instances (defaults to the function name).
        timeout: seconds from start after which the instance fails with ``WorkflowTimeoutError``.
        catalog: where to register it (defaults to the process-wide catalog of definitions).
        schedule: start it on a schedule: a cron expression (UTC) or a :class:`Schedule`; stored at
            every app start-up with the workflow's name as schedule id (see docs/schedules.md).
        queue: the app queue its instances run in (``EddaApp(queues=[Queue(...)])``).
    """

    def wrap(f: Callable[..., Any]) -> Workflow[Any, Any]:
        wf: Workflow[Any, Any] = Workflow(f, name=name, timeout=timeout, schedule=schedule, queue=queue)
        (catalog if catalog is not None else DEFAULT_CATALOG).add(wf)
        return wf

    if fn is not None:
        return wrap(fn)
    return wrap
