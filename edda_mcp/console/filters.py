"""The instance list's filter, read from and written to the URL's query parameters.

``status``, ``workflow``, ``since``, ``until`` (ISO 8601; a date or a date and time, UTC unless it says
otherwise), ``q`` (an instance-id prefix, or ``field=value`` to match a top-level input field) and
``queue`` and ``queue_key`` (the runs of a queue, of one of its keys: the queues page links them) and
``cursor`` (the keyset position ``<created_at>|<instance_id>`` of the last row of the previous page).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from durable_core import InstanceRecord, InstanceStatus

__all__ = ["FilterProblem", "ListFilter"]


class FilterProblem(Exception):
    """A query parameter is not valid (the message names it)."""


def _time(name: str, text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise FilterProblem(f"{name}: expected an ISO 8601 date or time, got {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _scalar(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What the instance list shows."""

    status: InstanceStatus | None = None
    workflow: str = ""
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""
    cursor: tuple[datetime, str] | None = None
    queue: str = ""
    queue_key: str = ""

    @staticmethod
    def parse(params: Mapping[str, str]) -> ListFilter:
        """Read the filter from query parameters.

        Raises:
            FilterProblem: a parameter is not valid.
        """
        status_text = params.get("status", "")
        try:
            status = InstanceStatus(status_text) if status_text else None
        except ValueError:
            choices = ", ".join(s.value for s in InstanceStatus)
            raise FilterProblem(f"status: expected one of {choices}, got {status_text!r}") from None
        cursor = None
        if raw := params.get("cursor", ""):
            created, sep, iid = raw.partition("|")
            at = _time("cursor", created) if sep else None
            if at is None or not iid:
                raise FilterProblem(f"cursor: expected <created_at>|<instance_id>, got {raw!r}")
            cursor = (at, iid)
        queue, queue_key = params.get("queue", "").strip(), params.get("queue_key", "").strip()
        if queue_key and not queue:
            raise FilterProblem("queue_key: give the queue too (queue=<name>)")
        return ListFilter(
            status=status,
            workflow=params.get("workflow", "").strip(),
            since=_time("since", params.get("since", "")),
            until=_time("until", params.get("until", "")),
            q=params.get("q", "").strip(),
            cursor=cursor,
            queue=queue,
            queue_key=queue_key,
        )

    def search_arguments(self, limit: int) -> dict[str, Any]:
        """Keyword arguments of ``app.search_instances`` for this filter."""
        field, eq, value = self.q.partition("=")
        by_input = bool(eq and field.strip())
        return {
            "status": self.status,
            "workflow_name": self.workflow or None,
            "created_after": self.since,
            "created_before": self.until,
            "input_equals": {field.strip(): _scalar(value.strip())} if by_input else None,
            "id_prefix": None if by_input or not self.q else self.q,
            "limit": limit,
            "before": self.cursor,
            "queue": self.queue or None,
            "queue_key": self.queue_key or None,
        }

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters of this filter (with ``changes``), empty ones left out."""
        values: dict[str, Any] = {
            "status": self.status.value if self.status else "",
            "workflow": self.workflow,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "q": self.q,
            "cursor": f"{self.cursor[0].isoformat()}|{self.cursor[1]}" if self.cursor else "",
            "queue": self.queue,
            "queue_key": self.queue_key,
        }
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v}

    def query(self, **changes: Any) -> str:
        """``params`` as a URL query string."""
        return urlencode(self.params(**changes))

    def next_cursor(self, last: InstanceRecord) -> str:
        """The query string of the page after the one ending with ``last``."""
        return self.query(cursor=f"{last.created_at.isoformat()}|{last.instance_id}")
