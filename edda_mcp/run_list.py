"""``runs_list``: the caller's runs of a server's durable tools, filtered and keyset-paged.

With HTTP auth, instance ids carry their owner's tag (see :mod:`edda_mcp.access`), so the listing keeps
only the caller's runs. The engine pages by ``(created_at, instance_id)``, newest first; the cursor is
that key, opaque to clients. A call examines a bounded number of stored runs, so a page may hold fewer
runs than asked for and still have a ``next_cursor``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from durable_core import EddaApp, InstanceRecord, InstanceStatus
from edda_mcp import access
from edda_mcp.models import RunListOut, RunSummary

MAX_SCANNED = 1000
"""At most this many stored runs are examined per call (keeps one call bounded)."""
PAGE_SIZE = 200


class BadCursorError(ValueError):
    """A ``cursor`` that ``runs_list`` did not hand out."""


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Filters of one ``runs_list`` call.

    Attributes:
        workflows: workflow name -> tool name of the durable tools listed (only their runs are shown).
        statuses: keep runs in one of these states (all states when empty).
        created_after: keep runs created at or after this time.
        created_before: keep runs created before this time.
        limit: most runs returned.
        cursor: where the previous page stopped (None for the newest runs).
    """

    workflows: Mapping[str, str]
    statuses: frozenset[InstanceStatus]
    created_after: datetime | None
    created_before: datetime | None
    limit: int
    cursor: tuple[datetime, str] | None


async def list_runs(app: EddaApp, query: RunQuery, principal: str | None) -> RunListOut:
    """The runs matching ``query`` that ``principal`` may see, newest first, with the next page's cursor."""
    only = next(iter(query.workflows)) if len(query.workflows) == 1 else None
    runs: list[RunSummary] = []
    before = query.cursor
    scanned = 0
    while (want := min(PAGE_SIZE, MAX_SCANNED - scanned)) > 0:
        page = await app.list_instances(
            status=query.statuses or None,
            workflow_name=only,
            created_after=query.created_after,
            created_before=query.created_before,
            limit=want,
            before=before,
        )
        for record in page:
            scanned += 1
            before = (record.created_at, record.instance_id)
            tool = query.workflows.get(record.workflow_name)
            if tool is not None and access.may_access(principal, record.instance_id):
                runs.append(summary(record, tool))
                if len(runs) == query.limit:
                    return RunListOut(runs=runs, next_cursor=encode_cursor(before))
        if len(page) < want:
            return RunListOut(runs=runs, next_cursor=None)  # no older matching runs are stored
    # examined as many runs as one call may: the caller continues from where this stopped
    return RunListOut(runs=runs, next_cursor=encode_cursor(before) if before is not None else None)


def summary(record: InstanceRecord, tool: str) -> RunSummary:
    """One line of the listing."""
    return RunSummary(
        instance_id=record.instance_id,
        tool=tool,
        status=record.status.value,
        finished=record.status.is_finished,
        created_at=record.created_at,
        updated_at=record.updated_at,
        finished_at=record.finished_at,
    )


def encode_cursor(key: tuple[datetime, str]) -> str:
    """The opaque cursor for the keyset position ``key``."""
    created_at, instance_id = key
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{instance_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The keyset position of a cursor from :func:`encode_cursor` (raises :class:`BadCursorError`)."""
    try:
        stamp, _, instance_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        created_at = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise BadCursorError(f"cursor {cursor[:40]!r} was not returned by runs_list") from exc
    if not instance_id:
        raise BadCursorError(f"cursor {cursor[:40]!r} was not returned by runs_list")
    return as_utc(created_at), instance_id


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (a naive time is taken to be UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
