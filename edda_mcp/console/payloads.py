"""How stored payloads are shown.

JSON pretty-printed, bytes as size + hex head, big ones truncated, sensitive ones replaced by the
workflow's redaction hook.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PREVIEW_CHARS", "Redaction", "Redactor", "Shown", "payload_value", "show"]

#: characters of a JSON payload shown inline; longer ones get a download link
PREVIEW_CHARS = 4000
_HEX_HEAD = 32

#: ``redact=`` of :func:`~edda_mcp.console.console_app`: per workflow name a callable taking the stored
#: value and returning what is shown, or one callable ``(workflow_name, value) -> shown value``.
Redaction = Mapping[str, Callable[[Any], Any]] | Callable[[str, Any], Any] | None


@dataclass(frozen=True, slots=True)
class Shown:
    """A payload as the page shows it.

    Attributes:
        text: the preview (pretty JSON, a bytes summary, or a note such as "no value").
        kind: ``json``, ``bytes``, ``none``, ``encoded`` (by a payload codec) or ``redacted``.
        truncated: the preview is cut; the full value is at the download link.
    """

    text: str
    kind: str
    truncated: bool = False


class Redactor:
    """Applies the ``redact=`` setting of the console to values before they are shown or downloaded."""

    def __init__(self, redaction: Redaction) -> None:
        self._redaction = redaction

    def __call__(self, workflow_name: str, value: Any) -> tuple[Any, bool]:
        """The value to show and whether a hook changed it (a failing hook hides the value)."""
        hook = self._redaction
        try:
            if hook is None:
                return value, False
            if callable(hook):
                shown = hook(workflow_name, value)
            elif workflow_name in hook:
                shown = hook[workflow_name](value)
            else:
                return value, False
        except Exception:  # never show what a broken hook was meant to hide
            return "[redaction hook failed]", True
        return shown, shown is not value


def payload_value(payload: Any) -> tuple[str, Any]:
    """``(kind, value)`` of a stored :class:`~durable_core.types.Payload`: JSON, bytes, none or encoded."""
    encoding = str(getattr(payload.encoding, "value", payload.encoding))
    if encoding == "json":
        return "json", payload.json_value
    if encoding == "bytes":
        return "bytes", payload.blob or b""
    if encoding == "none":
        return "none", None
    return "encoded", payload.blob or b""


def show(payload: Any, workflow_name: str, redactor: Redactor, limit: int = PREVIEW_CHARS) -> Shown:
    """The preview of ``payload`` (of an instance of ``workflow_name``)."""
    kind, value = payload_value(payload)
    if kind == "none":
        return Shown("no value", "none")
    if kind == "encoded":
        return Shown(f"{len(value)} bytes, encoded by the app's payload codec", "encoded")
    value, redacted = redactor(workflow_name, value)
    if isinstance(value, bytes | bytearray):
        head = bytes(value[:_HEX_HEAD]).hex(" ")
        more = " …" if len(value) > _HEX_HEAD else ""
        return Shown(f"{len(value)} bytes: {head}{more}", "redacted" if redacted else "bytes")
    text = value if redacted and isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    if len(text) > limit:
        return Shown(text[:limit] + "\n…", "redacted" if redacted else "json", truncated=True)
    return Shown(text, "redacted" if redacted else "json")


def download(payload: Any, workflow_name: str, redactor: Redactor) -> tuple[bytes, str]:
    """The full (redacted) value and its media type, for the download link."""
    kind, value = payload_value(payload)
    if kind == "none":
        return b"null", "application/json"
    if kind == "encoded":
        return bytes(value), "application/octet-stream"
    value, _ = redactor(workflow_name, value)
    if isinstance(value, bytes | bytearray):
        return bytes(value), "application/octet-stream"
    return json.dumps(value, indent=2, ensure_ascii=False).encode(), "application/json"
