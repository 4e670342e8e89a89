"""Building tool results: structured content plus equivalent text, and actionable errors."""

from __future__ import annotations

import enum
import json
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel


class ErrorCode(enum.StrEnum):
    """Machine-readable reason carried in an error result's structured content."""

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
    """An ``isError`` result whose text tells the model what to do next."""
    data: dict[str, Any] = {"error": code.value, "message": message, **details}
    return CallToolResult(
        content=[TextContent(type="text", text=message)], structured_content=data, is_error=True
    )
