"""Building tool results: structured content plus equivalent text, and actionable errors.

A tool's ``outputSchema`` describes its *successful* result only. Error results therefore carry no
``structuredContent``: hosts built on the TypeScript SDK and the MCP Inspector validate structured
content against the schema even when ``isError`` is set, and a schema-shaped error would either fail
that check or force every output schema to admit an error shape. The error's text tells the model what
to do next; programs read the machine-readable code and details from ``_meta["edda/error"]``.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

ERROR_META_KEY = "edda/error"
"""Key in an error result's ``_meta`` under which ``{"error": <code>, "message": ..., details}`` sits."""


class ErrorCode(enum.StrEnum):
    """Machine-readable reason carried in an error result's ``_meta["edda/error"]``."""

    UNKNOWN_INSTANCE = "unknown_instance"
    NOT_FINISHED = "not_finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"
    INVALID_INPUT = "invalid_input"
    CONFLICT = "conflict"
    WRONG_WORKFLOW = "wrong_workflow"
    ACCESS_DENIED = "access_denied"
    UNAVAILABLE = "unavailable"


def ok(model: BaseModel, text: str) -> CallToolResult:
    """A successful result: ``structuredContent`` from ``model`` and ``text`` followed by the JSON."""
    data = model.model_dump(mode="json")
    body = f"{text}\n{json.dumps(data, indent=2, sort_keys=True, default=str)}"
    return CallToolResult(content=[TextContent(type="text", text=body)], structured_content=data)


def error(code: ErrorCode, message: str, **details: Any) -> CallToolResult:
    """An ``isError`` result whose text tells the model what to do next (no ``structuredContent``).

    Args:
        code: why it failed.
        message: the actionable text shown to the model.
        **details: JSON-compatible facts (``instance_id``, ``status``, ...) for programs.
    """
    data: dict[str, Any] = {"error": code.value, "message": message, **details}
    return CallToolResult(
        content=[TextContent(type="text", text=message)], is_error=True, meta={ERROR_META_KEY: data}
    )


def error_details(result: CallToolResult) -> dict[str, Any] | None:
    """The ``_meta["edda/error"]`` of an error result from a durable tool (None for other results)."""
    if not result.is_error or not result.meta:
        return None
    details = result.meta.get(ERROR_META_KEY)
    return dict(details) if isinstance(details, dict) else None
