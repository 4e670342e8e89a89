"""Statements for leases and fencing, written once for every dialect.

An instance is *claimable* when it is runnable and its lease is free (``lease_expires_at`` NULL),
expired, or held by a worker whose liveness heartbeat expired (:mod:`durable_core.storage.liveness`). Claiming bumps ``lease_epoch``; every write by the runner carries ``(epoch, owner)`` and only
matches while both are unchanged (:func:`fence`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from durable_core.storage.liveness import owner_dead
from durable_core.storage.records import instance_from_row, utc
from durable_core.storage.schema import INSTANCES
from durable_core.types import ClaimedInstance, InstanceStatus, Lease

__all__ = ["claim_select", "claim_update", "claimed", "fence", "fence_select", "lease_free", "runnable"]

_I = INSTANCES.c
_P, _R, _W, _C = (
    InstanceStatus.PENDING.value,
    InstanceStatus.RUNNING.value,
    InstanceStatus.WAITING.value,
    InstanceStatus.COMPENSATING.value,
)


def fence(lease: Lease) -> ColumnElement[bool]:
    """The instance row still leased by ``lease`` (same epoch, same owner)."""
    return and_(
        _I.instance_id == lease.instance_id,
        _I.lease_epoch == lease.epoch,
        _I.lease_owner == lease.owner,
    )


def fence_select(lease: Lease) -> Select[Any]:
    """``SELECT ... FROM edda_instances WHERE <fence>`` (columns replaced by the caller)."""
    return select(_I.instance_id).where(fence(lease))


def lease_free(now: datetime) -> ColumnElement[bool]:
    """No lease, an expired one, or one held by a dead worker (its liveness heartbeat expired)."""
    return or_(_I.lease_expires_at.is_(None), _I.lease_expires_at <= now, owner_dead())


def runnable(now: datetime) -> ColumnElement[bool]:
    """Runnable per :meth:`Storage.claim_instance` (lease state not included).

    A paused instance (``app.pause``) is not, unless it was cancelled meanwhile: a cancel goes ahead.
    """
    return and_(
        or_(
            _I.status.in_([_P, _R, _C]),
            and_(_I.status == _W, or_(_I.wake_at <= now, _I.cancel_requested.is_(True))),
        ),
        or_(_I.paused.is_(False), _I.cancel_requested.is_(True)),
    )


def claim_select(now: datetime) -> Select[Any]:
    """Full instance rows that may be claimed now, outside any queue (locking clause added by the caller).

    Queued instances are claimed only by their queue's claim (:mod:`durable_core.storage.flow`).
    """
    return select(INSTANCES).where(runnable(now), lease_free(now), _I.queue_name.is_(None))


def claim_update(ids: Sequence[str], owner: str, now: datetime, lease_ttl: timedelta) -> Update:
    """Take the leases of ``ids`` (rows already locked or selected in this write transaction).

    SET order matters on MySQL, which evaluates assignments left to right: ``crash_count`` reads the
    *previous* ``lease_owner``, so it comes first.
    """
    return (
        update(INSTANCES)
        .where(_I.instance_id.in_(list(ids)))
        .ordered_values(
            (_I.crash_count, _I.crash_count + case((_I.lease_owner.is_not(None), 1), else_=0)),
            (_I.lease_epoch, _I.lease_epoch + 1),
            (_I.status, case((_I.status.in_([_P, _W]), _R), else_=_I.status)),
            (_I.lease_owner, owner),
            (_I.lease_expires_at, now + lease_ttl),
            (_I.wake_at, None),
            (_I.updated_at, now),
        )
    )


def claimed(row: Any, owner: str, now: datetime, lease_ttl: timedelta) -> ClaimedInstance:
    """The :class:`ClaimedInstance` that :func:`claim_update` produced from the pre-claim ``row``."""
    before = instance_from_row(row._mapping)
    crashed = before.lease_owner is not None
    now = utc(now)
    status = (
        InstanceStatus.RUNNING
        if before.status in (InstanceStatus.PENDING, InstanceStatus.WAITING)
        else (before.status)
    )
    after = dataclasses.replace(
        before,
        crash_count=before.crash_count + (1 if crashed else 0),
        lease_epoch=before.lease_epoch + 1,
        status=status,
        lease_owner=owner,
        lease_expires_at=now + lease_ttl,
        wake_at=None,
        updated_at=now,
    )
    lease = Lease(
        instance_id=after.instance_id, owner=owner, epoch=after.lease_epoch, expires_at=now + lease_ttl
    )
    woke_from = before.wake_at if before.status is InstanceStatus.WAITING else None
    return ClaimedInstance(lease=lease, instance=after, took_over_crashed=crashed, woke_from=woke_from)
