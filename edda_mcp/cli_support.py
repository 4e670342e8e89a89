"""Shared plumbing of the ``edda-mcp`` subcommands: the database option, opening it, times and output.

Every operator subcommand module (instances, replay, queues, schedules, ...) uses these, so they agree:

- ``add_db_argument(parser)`` + ``db_url(args)``: ``--db URL``, else ``$EDDA_MCP_DB_URL``, else a usage
  error naming both.
- ``open_for_reading(args)``: an engine on that database that never creates or migrates it (a mistyped
  SQLite path is an error, not a new empty file) and never runs workflows or holds a lease. Control
  commands (cancel, send-event, purge) use it too; only ``migrate`` creates.
- ``parse_time`` / ``parse_age``: ``--since 1h``, ``--until 2026-05-01T12:00``; ``write_table`` /
  ``write_json`` / ``preview``: aligned tables with a header, JSON for scripts, truncated payloads.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, TextIO

from durable_core import ConfigurationError, EddaApp, InputValidationError
from edda_mcp.server import DB_URL_ENV

__all__ = [
    "DB_URL_ENV",
    "PREVIEW_CHARS",
    "add_db_argument",
    "db_url",
    "json_argument",
    "open_for_reading",
    "parse_age",
    "parse_time",
    "payload_value",
    "preview",
    "write_json",
    "write_table",
]

#: characters of a payload shown before it is cut (``--full`` shows everything)
PREVIEW_CHARS: Final = 200

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--db URL`` (optional on the command line: ``$EDDA_MCP_DB_URL`` is the fallback)."""
    parser.add_argument("--db", help=f"database URL (default: ${DB_URL_ENV})")


def db_url(args: argparse.Namespace) -> str:
    """The database URL of ``--db`` or ``$EDDA_MCP_DB_URL``.

    Raises:
        ConfigurationError: neither is set.
    """
    url = getattr(args, "db", None) or os.environ.get(DB_URL_ENV)
    if not url:
        raise ConfigurationError(f"no database: pass --db URL or set {DB_URL_ENV}")
    return str(url)


def open_for_reading(args: argparse.Namespace | str) -> EddaApp:
    """An engine on an existing database: it creates and migrates nothing, runs no workflow.

    Use it as ``async with open_for_reading(args) as app:``. Opening fails with ``DatabaseNotFoundError``
    (a missing SQLite file, a database without the Edda schema) or ``MigrationError`` (another schema
    version), both naming the URL.

    Args:
        args: parsed arguments with ``db`` (see :func:`db_url`), or the URL itself.
    """
    url = args if isinstance(args, str) else db_url(args)
    return EddaApp(url, service_name="edda-mcp-cli", open_existing=True, run_workers=False)


def parse_age(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h``, ``2d``, ``1w`` as a duration.

    Raises:
        InputValidationError: any other text.
    """
    match = _AGE.match(text)
    if match is None:
        raise InputValidationError(f"not a duration like 30s, 15m, 1h, 2d or 1w: {text!r}")
    return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


def parse_time(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC when it names no zone) or an age before ``now`` (``1h``: an hour ago).

    Raises:
        InputValidationError: neither.
    """
    if _AGE.match(text):
        return now - parse_age(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputValidationError(
            f"not an ISO time (2026-05-01T12:00) or an age (30m, 1h, 2d): {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def write_table(
    out: TextIO, headers: Sequence[str], rows: Iterable[Sequence[object]], *, indent: str = ""
) -> None:
    """An aligned text table with a header line, each line prefixed by ``indent``."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        padded = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        out.write(indent + "  ".join([*padded, row[-1]]).rstrip() + "\n")


def json_argument(text: str) -> Any:
    """Parse a JSON command-line value (argparse turns the error into a usage error naming the option)."""
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not valid JSON: {text!r}") from None


def write_json(out: TextIO, data: Any) -> None:
    """``data`` as indented JSON (datetimes as ISO strings) and a newline."""
    out.write(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False) + "\n")


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class StoredPayload(Protocol):
    """A stored value as the engine returns it (``InstanceRecord.input``, ``HistoryEntry.result``)."""

    @property
    def json_value(self) -> Any:
        """The JSON value (None for bytes)."""

    @property
    def blob(self) -> bytes | None:
        """The bytes, for a bytes payload."""


def payload_value(payload: StoredPayload, *, full: bool) -> Any:
    """A stored payload for display: its JSON value, or ``<N bytes: hex head>`` for bytes.

    Values are shown as stored (a payload codec's output stays encoded); without ``full``, JSON longer
    than :data:`PREVIEW_CHARS` characters becomes a truncated string.
    """
    if payload.blob is not None:
        head = payload.blob[: 64 if full else 16].hex()
        return f"<{len(payload.blob)} bytes: {head}{'' if full and len(payload.blob) <= 64 else '...'}>"
    if full:
        return payload.json_value
    return preview(payload.json_value)


def preview(value: Any, limit: int = PREVIEW_CHARS) -> Any:
    """``value`` unchanged when its JSON is short, else its JSON cut to ``limit`` characters + a note."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= limit:
        return value
    return f"{text[:limit]}... ({len(text)} chars; --full shows all)"
