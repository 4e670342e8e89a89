"""What storage can hold, checked at the edge: one set of rules for every entry point and every database.

Ids, workflow and activity names, event types and channels end up in indexed ``VARCHAR(255)`` columns
(event types and channels inside the wait key ``"<kind>:<name>"``); payloads end up in JSON columns.
SQLite would store nearly anything, PostgreSQL refuses NUL characters in ``jsonb`` and MySQL/MariaDB pad
trailing spaces when comparing. Rather than letting each database decide, everything is checked here
before anything is stored, with an :class:`~durable_core.errors.InputValidationError` (a ``ValueError``)
that names the field:

* identifiers (ids, names, event types, channels): non-empty printable text within the column size,
  not ending with a space (MySQL/MariaDB would compare ``"a "`` equal to ``"a"``);
* free text stored as such (CloudEvents ``source``/``subject``, reasons): no NUL character, no lone
  surrogate, within its size;
* payloads (inputs, results, event data): strings and keys without NUL characters or lone surrogates,
  nested at most :data:`MAX_JSON_DEPTH` levels (bytes payloads are stored as bytes and may hold anything).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from durable_core.errors import InputValidationError

__all__ = [
    "MAX_CHANNEL_LENGTH",
    "MAX_CHILD_ID_LENGTH",
    "MAX_EVENT_TYPE_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_JSON_DEPTH",
    "MAX_NAME_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_TEXT_LENGTH",
    "check_identifier",
    "check_storable",
    "check_text",
    "escape_unstorable",
]

#: size of every id / name / wait-key column
MAX_ID_LENGTH: Final = 255
#: workflow and activity names (``workflow_name`` is a 255-character column)
MAX_NAME_LENGTH: Final = MAX_ID_LENGTH
#: event types: the wait key ``"event:" + type`` must fit the 255-character column
MAX_EVENT_TYPE_LENGTH: Final = MAX_ID_LENGTH - len("event:")
#: channels (the wait key is ``"message:" + channel``; kept at the documented 200)
MAX_CHANNEL_LENGTH: Final = 200
#: ids of child instances: the parent waits on the key ``"child:" + id``
MAX_CHILD_ID_LENGTH: Final = MAX_ID_LENGTH - len("child:")
#: free-text attributes such as a CloudEvents ``source`` or ``subject``
MAX_TEXT_LENGTH: Final = 1024
#: arrays/objects nested in a payload: MariaDB's JSON functions stop at 32 levels, and the engine wraps
#: some payloads once more (an event's data inside the recorded wait)
MAX_JSON_DEPTH: Final = 30
#: reasons given by people (cancel reasons)
MAX_REASON_LENGTH: Final = 10_000


def check_identifier(field: str, value: object, *, limit: int = MAX_ID_LENGTH) -> str:
    """Return ``value`` if it is an identifier every database stores and compares exactly.

    Raises:
        InputValidationError: naming ``field`` and what is wrong (nothing has been stored).
    """
    text = _non_empty_text(field, value, limit)
    if not text.isprintable():
        raise InputValidationError(
            f"{field} must be printable text (no control characters, NUL or lone surrogates), got {text!r}"
        )
    if text.endswith(" "):
        raise InputValidationError(
            f"{field} must not end with a space (MySQL/MariaDB would not tell it from the trimmed id), "
            f"got {text!r}"
        )
    return text


def check_text(field: str, value: object, *, limit: int = MAX_TEXT_LENGTH) -> str:
    """Return ``value`` if it is non-empty text without NUL characters or lone surrogates.

    Raises:
        InputValidationError: naming ``field`` (nothing has been stored).
    """
    text = _non_empty_text(field, value, limit)
    problem = _unstorable(text)
    if problem:
        raise InputValidationError(f"{field} contains {problem}, which cannot be stored")
    return text


def check_storable(field: str, value: object) -> None:
    """Check that every string and key of a JSON value can be stored on every database.

    Raises:
        InputValidationError: naming ``field`` and the path inside it, e.g. ``input.items[2].name``.
    """
    for path, text in _strings(field, value):
        problem = _unstorable(text)
        if problem:
            raise InputValidationError(
                f"{path} contains {problem}, which cannot be stored (PostgreSQL and MySQL refuse it); "
                "send it as bytes or encode it"
            )


def escape_unstorable(text: str) -> str:
    """``text`` with NUL characters and lone surrogates replaced by backslash escapes (x00, udXXX).

    For messages the engine writes itself (recorded errors, blocked reasons): they must never be the
    reason a write fails.
    """
    if not _unstorable(text):
        return text
    out = []
    for char in text:
        if char == "\x00" or "\ud800" <= char <= "\udfff":
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def _non_empty_text(field: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InputValidationError(f"{field} must be a string, got {type(value).__name__}")
    if not value:
        raise InputValidationError(f"{field} must not be empty")
    if len(value) > limit:
        raise InputValidationError(f"{field} must be at most {limit} characters long, got {len(value)}")
    return value


def _unstorable(text: str) -> str:
    """What in ``text`` no database can store as text ("" when nothing)."""
    if text.isascii():
        return "a NUL character" if "\x00" in text else ""
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate"
    return ""


def _strings(path: str, value: object) -> Iterator[tuple[str, str]]:
    """Every string (values and keys) inside a JSON value, with its path; iterative (deep values are fine).

    Raises:
        InputValidationError: the value nests arrays/objects deeper than :data:`MAX_JSON_DEPTH`.
    """
    stack: list[tuple[str, object, int]] = [(path, value, 0)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, str):
            yield where, item
            continue
        if not isinstance(item, dict | list | tuple):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise InputValidationError(
                f"{where} nests arrays/objects more than {MAX_JSON_DEPTH} levels deep, which cannot be "
                "stored on every database (MariaDB's limit)"
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    yield f"{where} key {key!r}", key
                stack.append((f"{where}.{key}", child, depth + 1))
        else:
            stack.extend((f"{where}[{index}]", child, depth + 1) for index, child in enumerate(item))
