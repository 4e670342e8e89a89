"""Graph state as JSON: take a snapshot, rebuild a fresh copy, and load a snapshot into the live object.

The live state object is the one the graph run holds, so a recorded snapshot is copied *into* it field
by field (never replaced). Supported states: ``None``, dataclasses and Pydantic models, with any nesting
pydantic can validate (nested dataclasses, models, lists, dicts, datetimes, enums, ...).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from durable_pydantic_graph.errors import RecordedStepError, UnsupportedGraphError


@lru_cache(maxsize=256)
def adapter(annotation: Any) -> TypeAdapter[Any]:
    """A cached ``TypeAdapter`` for ``annotation`` (types are hashable; unhashable ones are not cached)."""
    return TypeAdapter(annotation)


def type_adapter(annotation: Any) -> TypeAdapter[Any]:
    """``adapter(annotation)``, tolerating unhashable annotations."""
    try:
        return adapter(annotation)
    except TypeError:
        return TypeAdapter(annotation)


def to_json(value: Any, what: str) -> Any:
    """JSON form of ``value`` (Pydantic models, dataclasses, datetimes, ... as pydantic dumps them).

    Raises:
        UnsupportedGraphError: naming ``what`` when the value cannot be represented as JSON.
    """
    try:
        return to_jsonable_python(value, bytes_mode="base64")
    except PydanticSerializationError as exc:
        raise UnsupportedGraphError(
            f"{what} of type {type(value).__name__} is not JSON-serializable: {exc}"
        ) from None


def check_state(state: Any) -> None:
    """Reject states that cannot be snapshotted and restored in place.

    Raises:
        UnsupportedGraphError: the state is not ``None``, a dataclass instance or a Pydantic model.
    """
    if state is None or isinstance(state, BaseModel):
        return
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        params = getattr(type(state), "__dataclass_params__", None)
        if params is not None and params.frozen:
            raise UnsupportedGraphError(
                f"graph state {type(state).__name__} is a frozen dataclass; steps mutate the state, "
                "so use a regular dataclass"
            )
        return
    raise UnsupportedGraphError(
        f"graph state must be a dataclass instance or a Pydantic model (or None), got {type(state).__name__}"
    )


def snapshot(state: Any) -> Any:
    """JSON snapshot of the state (``None`` for no state)."""
    if state is None:
        return None
    return to_json(state, "graph state")


def rebuild(state_type: type[Any], data: Any) -> Any:
    """A new state object of ``state_type`` built from a snapshot.

    Raises:
        RecordedStepError: the snapshot does not fit the current state type.
    """
    try:
        return type_adapter(state_type).validate_python(data)
    except ValidationError as exc:
        raise RecordedStepError(
            f"recorded graph state does not fit {state_type.__name__} any more: {exc}"
        ) from None


def load_into(live: Any, data: Any) -> None:
    """Make ``live`` equal to the snapshot ``data`` by copying the fields of a rebuilt copy into it."""
    if live is None:
        return
    fresh = rebuild(type(live), data)
    if isinstance(live, BaseModel):
        for name in type(live).model_fields:
            object.__setattr__(live, name, getattr(fresh, name))
        object.__setattr__(live, "__pydantic_fields_set__", set(fresh.model_fields_set))
        return
    for field in dataclasses.fields(live):
        object.__setattr__(live, field.name, getattr(fresh, field.name))
