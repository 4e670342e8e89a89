"""Read queries that need more than one line: instance listing with filters and keyset pagination."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import and_, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from durable_core.run_control import PAUSABLE_STATUSES
from durable_core.storage.dialects import SqlDialect
from durable_core.storage.schema import INSTANCES
from durable_core.types import InstanceQuery, InstanceStatus, PayloadEncoding

__all__ = ["MAX_LIST_LIMIT", "list_instances_select", "status_condition"]

MAX_LIST_LIMIT: Final = 1000
_I = INSTANCES.c


def _validate(query: InstanceQuery) -> None:
    if type(query.limit) is not int:
        raise ValueError(f"InstanceQuery.limit must be an int, got {query.limit!r}")
    if not 1 <= query.limit <= MAX_LIST_LIMIT:
        raise ValueError(f"InstanceQuery.limit must be between 1 and {MAX_LIST_LIMIT}, got {query.limit}")


def status_condition(statuses: frozenset[InstanceStatus]) -> ColumnElement[bool]:
    """Rows whose *shown* status (see :func:`records.shown_status`) is one of ``statuses``."""
    shown_paused = and_(_I.paused.is_(True), _I.status.in_(sorted(s.value for s in PAUSABLE_STATUSES)))
    stored = sorted(s.value for s in statuses if s is not InstanceStatus.PAUSED)
    parts: list[ColumnElement[bool]] = [and_(_I.status.in_(stored), not_(shown_paused))] if stored else []
    if InstanceStatus.PAUSED in statuses:
        parts.append(shown_paused)
    return or_(*parts) if parts else _I.instance_id.is_(None)


def list_instances_select(query: InstanceQuery, dialect: SqlDialect) -> Select[Any]:
    """``SELECT`` of full instance rows matching ``query``, newest first, at most ``query.limit``.

    Raises:
        ValueError: invalid limit, cursor or ``input_equals`` field/value.
    """
    _validate(query)
    conditions: list[ColumnElement[bool]] = []
    if query.statuses is not None:
        if not query.statuses:
            conditions.append(_I.instance_id.is_(None))  # empty set: nothing matches
        conditions.append(status_condition(query.statuses))
    if query.workflow_name is not None:
        conditions.append(_I.workflow_name == query.workflow_name)
    if query.app_version is not None:
        conditions.append(_I.app_version == query.app_version)
    if query.created_after is not None:
        conditions.append(_I.created_at >= query.created_after)
    if query.created_before is not None:
        conditions.append(_I.created_at < query.created_before)
    if query.input_equals:
        conditions.append(_I.input_encoding == PayloadEncoding.JSON.value)
        for key, value in query.input_equals:
            conditions.append(dialect.json_field_equals(_I.input_json, key, value))
    if query.before is not None:
        created, instance_id = query.before
        conditions.append(
            or_(_I.created_at < created, and_(_I.created_at == created, _I.instance_id < instance_id))
        )
    return (
        select(INSTANCES)
        .where(*conditions)
        .order_by(_I.created_at.desc(), _I.instance_id.desc())
        .limit(query.limit)
    )
