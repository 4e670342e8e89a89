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


def state_changes(before: Any, after: Any, path: tuple[str, ...] = ()) -> list[Any]:
    """What a step did to the state, as JSON operations from snapshot ``before`` to ``after``.

    Operations are ``["set", path, value]``, ``["del", path]`` and ``["extend", path, items]`` (a list
    that only grew at its end), with ``path`` the list of object keys. Objects are compared key by key,
    so two parallel steps that each add a key to one dict, or append to one list, both keep theirs.
    """
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        ops: list[Any] = []
        for key, value in after.items():
            if key in before:
                ops.extend(state_changes(before[key], value, (*path, key)))
            else:
                ops.append(["set", [*path, key], value])
        ops.extend(["del", [*path, key]] for key in before if key not in after)
        return ops
    if isinstance(before, list) and isinstance(after, list) and after[: len(before)] == before:
        return [["extend", list(path), after[len(before) :]]]
    return [["set", list(path), after]]


def apply_changes(data: Any, ops: list[Any]) -> Any:
    """``data`` (a state snapshot) with ``ops`` from :func:`state_changes` applied (``data`` is modified)."""
    for op, path, *value in ops:
        if not path:
            data = value[0] if op == "set" else data + value[0] if op == "extend" else data
            continue
        parent = data
        for key in path[:-1]:
            if not isinstance(parent.get(key), dict):
                parent[key] = {}
            parent = parent[key]
        last = path[-1]
        if op == "del":
            parent.pop(last, None)
        elif op == "extend" and isinstance(parent.get(last), list):
            parent[last] = parent[last] + value[0]
        else:  # "set", or "extend" of a list another step replaced
            parent[last] = value[0]
    return data


def load_changes_into(live: Any, data: Any, changes: list[Any] | None) -> None:
    """Apply a step's recorded ``changes`` to ``live`` (without them, load its whole snapshot ``data``).

    Steps of parallel branches each ran on their own copy of the state; applying only what a step
    changed keeps what the others changed meanwhile, as pydantic-graph's shared state object would.
    """
    if changes is None:
        load_into(live, data)
    elif live is not None and changes:
        load_into(live, apply_changes(snapshot(live), changes))
