"""The operator's answer to an at-most-once step whose outcome is unknown (one transaction).

The step's ``edda_attempts`` row holds the "attempt started" mark (see ``durable_core.engine.at_most_once``);
the answer replaces it and makes the instance runnable again, so its next run records the result (it
happened) or runs a new attempt (it did not).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import Select

from durable_core.storage import records
from durable_core.storage.schema import ATTEMPTS, INSTANCES
from durable_core.types import OUTCOME_UNKNOWN_MARK, ErrorInfo, InstanceStatus

_I = INSTANCES.c
_A = ATTEMPTS.c


def _asked(args: object) -> bool:
    return isinstance(args, dict) and args.get("asked") is True


def status_probe(instance_id: str) -> Select[Any]:
    """The instance's status (the caller adds the row lock of its dialect)."""
    return select(_I.status).where(_I.instance_id == instance_id)


async def answer_in(conn: AsyncConnection, instance_id: str, answer: ErrorInfo, now: datetime) -> bool:
    """Replace the started mark of the OUTCOME_UNKNOWN ``instance_id`` by ``answer``; make it runnable.

    The caller has locked the instance row and checked its status. False when no mark is found. The
    answer goes to the step the parked run asked about (its mark says ``asked``).
    """
    rows = (await conn.execute(select(ATTEMPTS).where(_A.instance_id == instance_id))).all()
    states = [records.attempt_from_row(row._mapping) for row in rows]
    marks = {s.position: s.last_error for s in states if s.last_error is not None}
    marked = [position for position, mark in marks.items() if mark.type_name == OUTCOME_UNKNOWN_MARK]
    if not marked:
        return False
    # the step the parked run asked about; several marks only after a gather of interrupted steps
    asked = [position for position in marked if _asked(marks[position].args)]
    position = min(asked or marked)
    await conn.execute(
        update(ATTEMPTS)
        .where(_A.instance_id == instance_id, _A.position == position)
        .values(last_error=records.error_to_json(answer))
    )
    await conn.execute(
        update(INSTANCES)
        .where(_I.instance_id == instance_id, _I.status == InstanceStatus.OUTCOME_UNKNOWN.value)
        .values(status=InstanceStatus.RUNNING.value, blocked_reason=None, wake_at=None, updated_at=now)
    )
    return True
