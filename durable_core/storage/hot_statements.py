"""Statements on the hot path, built once with bound parameters (see :mod:`writer`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, insert, null, select, true, update
from sqlalchemy.sql.dml import Insert, Update

from durable_core.storage import records
from durable_core.storage.schema import HISTORY, INSTANCES
from durable_core.types import FinishRequest, HistoryEntry, InstanceStatus, Lease, NewInstance

_I = INSTANCES.c
_HISTORY_COLUMNS = tuple(HISTORY.c.keys())
_INSTANCE_COLUMNS = tuple(INSTANCES.c.keys())
_FINISH_COLUMNS = (
    "status",
    "output_encoding",
    "output_json",
    "output_blob",
    "error",
    "blocked_reason",
    "finished_at",
    "updated_at",
)


def _fence_binds() -> Any:
    return (
        (_I.instance_id == bindparam("fence_instance_id"))
        & (_I.lease_epoch == bindparam("fence_epoch"))
        & (_I.lease_owner == bindparam("fence_owner"))
    )


def _fenced_history_insert(*, lock_fence_row: bool) -> Insert:
    source = select(*[bindparam(f"v_{c}", type_=HISTORY.c[c].type) for c in _HISTORY_COLUMNS]).where(
        _fence_binds()
    )
    if lock_fence_row:  # serialize against a concurrent claim's UPDATE of the instance row
        source = source.with_for_update(read=True)
    return insert(HISTORY).from_select(list(_HISTORY_COLUMNS), source)


#: ``INSERT INTO edda_history (...) SELECT :values FROM edda_instances WHERE <fence>``
HISTORY_INSERT: Insert = _fenced_history_insert(lock_fence_row=False)
#: the same, share-locking the fenced instance row (PostgreSQL, MySQL)
HISTORY_INSERT_LOCKED: Insert = _fenced_history_insert(lock_fence_row=True)
#: a new instance row
INSTANCE_INSERT: Insert = insert(INSTANCES).values(
    {c: bindparam(f"v_{c}", type_=INSTANCES.c[c].type) for c in _INSTANCE_COLUMNS}
)
#: the final (or parked) state of an instance, releasing its lease, fenced
FINISH_UPDATE: Update = (
    update(INSTANCES)
    .where(_fence_binds())
    .values(
        {
            **{c: bindparam(f"v_{c}", type_=INSTANCES.c[c].type) for c in _FINISH_COLUMNS},
            "lease_owner": null(),
            "lease_expires_at": null(),
        }
    )
)
#: park a waiting instance until ``wake_at`` (sooner if a cancel arrived meanwhile), releasing its lease
PARK_UPDATE: Update = (
    update(INSTANCES)
    .where(_fence_binds())
    .values(
        {
            "status": bindparam("v_status", type_=_I.status.type),
            "wake_at": case(
                (_I.cancel_requested == true(), bindparam("v_now", type_=_I.wake_at.type)),
                else_=bindparam("v_wake_at", type_=_I.wake_at.type),
            ),
            "updated_at": bindparam("v_updated_at", type_=_I.updated_at.type),
            "lease_owner": null(),
            "lease_expires_at": null(),
            # how far the code got (see ctx.patched); kept when the caller does not know
            "replay_frontier": func.coalesce(
                bindparam("v_frontier", type_=_I.replay_frontier.type), _I.replay_frontier
            ),
        }
    )
)


def _fence_params(lease: Lease) -> dict[str, Any]:
    return {"fence_instance_id": lease.instance_id, "fence_epoch": lease.epoch, "fence_owner": lease.owner}


def history_params(lease: Lease, entry: HistoryEntry) -> dict[str, Any]:
    """Parameters of :data:`HISTORY_INSERT` for one entry."""
    if entry.instance_id != lease.instance_id:
        raise ValueError(f"entry of {entry.instance_id!r} recorded with the lease of {lease.instance_id!r}")
    params = {f"v_{name}": value for name, value in records.history_values(entry).items()}
    params.update(_fence_params(lease))
    return params


def instance_params(new: NewInstance) -> dict[str, Any]:
    """Parameters of :data:`INSTANCE_INSERT`."""
    return {f"v_{name}": value for name, value in records.new_instance_values(new).items()}


def finish_params(lease: Lease, request: FinishRequest, now: datetime) -> dict[str, Any]:
    """Parameters of :data:`FINISH_UPDATE`."""
    values = {
        "status": request.status.value,
        **records.payload_values("output", request.output),
        "error": records.error_to_json(request.error),
        "blocked_reason": request.blocked_reason,
        "finished_at": now if request.status.is_finished else None,
        "updated_at": now,
    }
    params = {f"v_{name}": value for name, value in values.items()}
    params.update(_fence_params(lease))
    return params


def park_params(
    lease: Lease, wake_at: datetime | None, now: datetime, frontier: int | None = None
) -> dict[str, Any]:
    """Parameters of :data:`PARK_UPDATE` (``frontier``: positions the code took, None keeps the stored one)."""
    params: dict[str, Any] = {
        "v_status": InstanceStatus.WAITING.value,
        "v_wake_at": wake_at,
        "v_now": now,
        "v_updated_at": now,
        "v_frontier": frontier,
    }
    params.update(_fence_params(lease))
    return params
