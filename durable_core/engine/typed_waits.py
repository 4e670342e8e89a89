"""Validating an addressed event against the model its target instance waits with, when it is sent.

``wait_event(ctx, type, model=M)`` stores M's JSON schema with the wait. An event sent to that instance
(``instance_id=...``) while it waits is checked against that schema before anything is stored, so a
malformed answer is refused to whoever sent it (``ValueError``; 400 over HTTP; a tool error over MCP)
instead of being taken by the wait. Whatever still gets through (sent by type, or before the wait began)
is handled by the wait itself: it is recorded, and the workflow keeps waiting.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from durable_core.errors import InputValidationError
from durable_core.types import JsonValue

__all__ = ["check_event_data"]

_MAX_REPORTED = 3


def check_event_data(instance_id: str, event_type: str, schema: JsonValue, data: Any) -> None:
    """Raise if ``data`` does not validate against the ``schema`` the instance waits with.

    Args:
        instance_id: the addressed instance (for the message).
        event_type: the event type it waits for.
        schema: the JSON schema stored with the wait (``model.model_json_schema()``).
        data: the event data as it would be stored (JSON value or bytes).

    Raises:
        InputValidationError: naming the fields that do not match (nothing is stored).
    """
    if not isinstance(schema, dict):
        return
    if isinstance(data, bytes):
        try:
            data = json.loads(data)
        except ValueError:
            raise InputValidationError(
                f"data: instance {instance_id!r} waits for {event_type!r} with a model; bytes that are "
                "not JSON cannot match it"
            ) from None
    try:
        validator = Draft202012Validator(schema)
        problems = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    except SchemaError:  # not a schema this validator understands: the wait itself will validate
        return
    if not problems:
        return
    details = "; ".join(
        f"{_path(problem.absolute_path)}: {problem.message}" for problem in problems[:_MAX_REPORTED]
    )
    raise InputValidationError(
        f"data does not match what instance {instance_id!r} waits for on {event_type!r}: {details}"
    )


def _path(parts: Any) -> str:
    path = "data"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
