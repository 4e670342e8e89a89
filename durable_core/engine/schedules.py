"""``app.schedules``: create, change, list and fire schedules stored in the database.

Every change is a transaction on the schedule's row, visible to every process at once; the timer loops
of other processes learn about it through PostgreSQL ``NOTIFY`` or their bounded re-check (see
:mod:`durable_core.engine.schedule_loop`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from durable_core.authoring.catalog import Catalog
from durable_core.authoring.workflow import Workflow
from durable_core.engine.services import EngineServices
from durable_core.errors import ConfigurationError, InputValidationError
from durable_core.scheduling.spec import (
    CatchUp,
    Overlap,
    Schedule,
    ScheduleExistsError,
    ScheduleInfo,
    ScheduleNotFoundError,
    enum_value,
)
from durable_core.scheduling.ticks import jitter_of, next_tick, tick_instance_id
from durable_core.serialization import args_hash, to_json_value
from durable_core.storage.records import new_instance_record
from durable_core.storage.schedules import MAX_SCHEDULE_LIST, FireResult, SqlSchedules
from durable_core.types import ClaimedInstance, Lease, NewInstance
from durable_core.validation import check_identifier

__all__ = ["MAX_SCHEDULE_ID_LENGTH", "Schedules"]

logger = logging.getLogger("durable_core.schedules")

#: schedule ids leave room for the tick suffix of their instance ids (255 characters in all)
MAX_SCHEDULE_ID_LENGTH = 200
_Fired = list[FireResult]  # (``list`` is a method name inside Schedules)


def _schedule_id(value: object) -> str:
    text = check_identifier("schedule id", value, limit=MAX_SCHEDULE_ID_LENGTH)
    if "@" in text:
        raise InputValidationError(f"schedule id must not contain '@' (it separates the tick), got {text!r}")
    return text


def _next_ticks(schedule_id: str, spec: Schedule, now: datetime) -> tuple[datetime, datetime]:
    """``next_tick_at`` (the first tick after ``now``) and ``next_fire_at`` (plus its jitter)."""
    tick = next_tick(spec, now)
    return tick, tick + jitter_of(schedule_id, spec, tick)


class Schedules:
    """The schedules of an app's database (``app.schedules``).

    Args:
        services: the app's engine services (storage, clock, serializer, catalog, local worker).
        service_name: recorded with the instances ticks start.
        changed: called after every change made here (wakes this process's timer loop).
    """

    def __init__(self, services: EngineServices, service_name: str, changed: Callable[[], None]) -> None:
        self._s = services
        self._service_name = service_name
        self._changed = changed

    @property
    def _store(self) -> SqlSchedules:
        return self._s.storage.schedules()

    @property
    def catalog(self) -> Catalog:
        """The workflows this app serves (a schedule of another workflow is fired elsewhere)."""
        return self._s.catalog

    # -- defining ------------------------------------------------------------------------------------
    def _spec(self, workflow: Workflow[Any, Any] | str, spec: Schedule) -> tuple[str, Schedule]:
        """The workflow name and ``spec`` with its args validated (when this app serves the workflow)."""
        name = workflow.name if isinstance(workflow, Workflow) else check_identifier("workflow", workflow)
        if name in self._s.catalog:
            args = self._s.catalog.get(name).encode_arguments((), dict(spec.args))
        else:  # e.g. the CLI: checked when a tick starts, by a process that serves the workflow
            try:
                args = to_json_value(dict(spec.args))  # type: ignore[assignment]
            except TypeError as exc:
                raise InputValidationError(f"schedule args: {exc}") from None
        return name, dataclasses.replace(spec, args=args)

    def _new_info(self, schedule_id: str, name: str, spec: Schedule, *, declared: bool) -> ScheduleInfo:
        now = self._s.clock.now()
        tick, fire_at = _next_ticks(schedule_id, spec, now)
        return ScheduleInfo(
            schedule_id=schedule_id,
            workflow_name=name,
            spec=spec,
            paused=False,
            next_tick_at=tick,
            next_fire_at=fire_at,
            last_fire_at=None,
            last_instance_id=None,
            buffered_tick_at=None,
            declared=declared,
            created_at=now,
            updated_at=now,
        )

    async def create(
        self,
        schedule_id: str,
        workflow: Workflow[Any, Any] | str,
        *,
        cron: str | None = None,
        every: timedelta | None = None,
        args: Mapping[str, Any] | None = None,
        timezone: str = "UTC",
        overlap: Overlap | str = Overlap.SKIP,
        catch_up: CatchUp | str = CatchUp.LATEST,
        jitter: timedelta = timedelta(0),
        paused: bool = False,
    ) -> ScheduleInfo:
        """Store a schedule that starts ``workflow`` at every tick (see :class:`Schedule` for the fields).

        Creating the same definition again is a no-op that returns the stored schedule.

        Raises:
            InputValidationError: an invalid field or argument (nothing is stored).
            ScheduleExistsError: the id exists with another definition (use ``update``).
        """
        spec = Schedule(
            cron,
            every,
            dict(args or {}),
            timezone,
            enum_value(Overlap, "overlap", overlap),
            enum_value(CatchUp, "catch_up", catch_up),
            jitter,
        )
        return await self.create_from(schedule_id, workflow, spec, paused=paused)

    async def create_from(
        self, schedule_id: str, workflow: Workflow[Any, Any] | str, spec: Schedule, *, paused: bool = False
    ) -> ScheduleInfo:
        """:meth:`create` with a ready :class:`Schedule`."""
        schedule_id = _schedule_id(schedule_id)
        name, spec = self._spec(workflow, spec)
        info = dataclasses.replace(self._new_info(schedule_id, name, spec, declared=False), paused=paused)
        existing = await self._store.insert(info)
        if existing is not None:
            if existing.workflow_name != name or existing.spec != spec:
                raise ScheduleExistsError(
                    f"schedule {schedule_id!r} already exists with another definition; use update() to change it"
                )
            return existing
        self._changed()
        return info

    async def sync_declared(self) -> None:
        """Store the ``@workflow(schedule=...)`` schedules of this app's workflows (id: the workflow name).

        Idempotent: an unchanged one keeps its state; a changed one gets the new definition; one whose
        workflow no longer declares a schedule is deleted.

        Raises:
            ConfigurationError: a schedule created with ``create`` already has a workflow's name.
        """
        declared = [wf for wf in self._s.catalog if getattr(wf, "schedule", None) is not None]
        for wf in declared:
            assert wf.schedule is not None
            name, spec = self._spec(wf, wf.schedule)
            info = self._new_info(name, name, spec, declared=True)
            stored = await self._store.insert(info)
            if stored is None:
                continue
            if not stored.declared:
                raise ConfigurationError(
                    f"workflow {name} declares a schedule, but a schedule created with create() has its id "
                    f"{name!r}; delete that one or remove schedule= from the workflow"
                )
            if stored.workflow_name != name or stored.spec != spec:
                await self._replace(name, name, spec)
        removed = await self._store.delete_declared(
            sorted(self._s.catalog.names()), [wf.name for wf in declared]
        )
        if removed:
            logger.info("deleted %d schedule(s) no longer declared by their workflow", removed)
        self._changed()

    async def _replace(self, schedule_id: str, name: str, spec: Schedule) -> ScheduleInfo | None:
        now = self._s.clock.now()
        tick, fire_at = _next_ticks(schedule_id, spec, now)

        def change(info: ScheduleInfo) -> ScheduleInfo:
            return dataclasses.replace(
                info,
                workflow_name=name,
                spec=spec,
                next_tick_at=tick,
                next_fire_at=fire_at,
                buffered_tick_at=None,
                updated_at=now,
            )

        return await self._store.change(schedule_id, change)

    async def update(
        self,
        schedule_id: str,
        *,
        workflow: Workflow[Any, Any] | str | None = None,
        cron: str | None = None,
        every: timedelta | None = None,
        args: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        overlap: Overlap | str | None = None,
        catch_up: CatchUp | str | None = None,
        jitter: timedelta | None = None,
    ) -> ScheduleInfo:
        """Change the given fields; the next tick is computed again from now.

        ``cron`` replaces ``every`` and the other way round. Processes firing it see the change at once.

        Raises:
            ScheduleNotFoundError: no such schedule.
            InputValidationError: an invalid field (nothing is changed).
        """
        current = await self.get(schedule_id)
        old = current.spec
        changing_timing = cron is not None or every is not None
        timing = (cron, every) if changing_timing else (old.cron, old.every)  # both given: rejected
        spec = Schedule(
            *timing,
            args=old.args if args is None else dict(args),
            timezone=old.timezone if timezone is None else timezone,
            overlap=old.overlap if overlap is None else enum_value(Overlap, "overlap", overlap),
            catch_up=old.catch_up if catch_up is None else enum_value(CatchUp, "catch_up", catch_up),
            jitter=old.jitter if jitter is None else jitter,
        )
        name, spec = self._spec(workflow if workflow is not None else current.workflow_name, spec)
        updated = await self._replace(current.schedule_id, name, spec)
        if updated is None:
            raise ScheduleNotFoundError(f"no schedule with id {schedule_id!r}")
        self._changed()
        return updated

    async def pause(self, schedule_id: str) -> ScheduleInfo:
        """Stop starting instances (running ones go on). Ticks passing while paused are skipped."""
        return await self._set_paused(schedule_id, True)

    async def resume(self, schedule_id: str) -> ScheduleInfo:
        """Start instances again, from the first tick after now."""
        return await self._set_paused(schedule_id, False)

    async def _set_paused(self, schedule_id: str, paused: bool) -> ScheduleInfo:
        now = self._s.clock.now()

        def change(info: ScheduleInfo) -> ScheduleInfo:
            if info.paused == paused:
                return info
            if paused:
                return dataclasses.replace(info, paused=True, buffered_tick_at=None, updated_at=now)
            tick, fire_at = _next_ticks(info.schedule_id, info.spec, now)
            return dataclasses.replace(
                info, paused=False, next_tick_at=tick, next_fire_at=fire_at, updated_at=now
            )

        changed = await self._store.change(_schedule_id(schedule_id), change)
        if changed is None:
            raise ScheduleNotFoundError(f"no schedule with id {schedule_id!r}")
        self._changed()
        return changed

    async def delete(self, schedule_id: str) -> bool:
        """Delete the schedule (instances it started are kept); False if there was none."""
        known = await self._store.get(_schedule_id(schedule_id)) is not None
        await self._store.change(schedule_id, lambda _info: None)
        self._changed()
        return known

    # -- reading -------------------------------------------------------------------------------------
    async def get(self, schedule_id: str) -> ScheduleInfo:
        """One schedule with its state.

        Raises:
            ScheduleNotFoundError: no such schedule.
        """
        try:
            valid = _schedule_id(schedule_id)
        except InputValidationError:
            raise ScheduleNotFoundError(f"no schedule with id {schedule_id!r}") from None
        info = await self._store.get(valid)
        if info is None:
            raise ScheduleNotFoundError(f"no schedule with id {schedule_id!r}")
        return info

    async def list(
        self, *, workflow_name: str | None = None, limit: int = MAX_SCHEDULE_LIST
    ) -> list[ScheduleInfo]:
        """Every schedule (of ``workflow_name`` when given) ordered by id, with next/last fire times."""
        return await self._store.list_all(workflow_name, limit)

    # -- firing --------------------------------------------------------------------------------------
    async def trigger_now(self, schedule_id: str) -> str:
        """Start the schedule's workflow once now, whatever its overlap policy; return the instance id.

        The instance id is ``<schedule id>@<now>`` (a tick of its own); the regular ticks are unchanged.

        Raises:
            ScheduleNotFoundError: no such schedule.
        """
        info = await self.get(schedule_id)
        now = self._s.clock.now()
        results = await self._store.fire([info.schedule_id], now, self._build, manual=now)
        if not results:
            raise ScheduleNotFoundError(f"no schedule with id {schedule_id!r}")
        self._started(results)
        return tick_instance_id(info.schedule_id, now)

    async def fire_due(self, schedule_ids: Sequence[str]) -> _Fired:
        """Start what is due of these schedules now, in one transaction (fired elsewhere: no result)."""
        results = await self._store.fire(schedule_ids, self._s.clock.now(), self._build)
        self._started(results)
        for result in results:
            if result.plan.missed:
                logger.info("schedule %s: %d due tick(s) not started", result.schedule_id, result.plan.missed)
        return results

    def _started(self, results: _Fired) -> None:
        """Run the instances leased here at creation; wake the dispatcher for the others."""
        unleased: list[str] = []
        for new in (n for r in results for n in r.created):
            if new.lease_owner is None or new.lease_expires_at is None:
                unleased.append(new.instance_id)
                continue
            record = new_instance_record(new)
            lease = Lease(new.instance_id, new.lease_owner, record.lease_epoch, new.lease_expires_at)
            self._s.local.adopt(ClaimedInstance(lease, record))
        if unleased:
            self._s.local.wake(unleased)

    def _build(self, info: ScheduleInfo, tick: datetime) -> NewInstance:
        """The instance of ``tick``, leased to this worker when it has room (it then runs at once)."""
        now = self._s.clock.now()
        args = dict(info.spec.args)
        wf = self._s.catalog.get(info.workflow_name) if info.workflow_name in self._s.catalog else None
        claim = self._s.local.claim_request() if wf is not None else None
        return NewInstance(
            instance_id=tick_instance_id(info.schedule_id, tick),
            workflow_name=info.workflow_name,
            input=self._s.serializer.encode(args, "input"),
            input_hash=args_hash(args),
            service_name=self._service_name,
            now=now,
            deadline_at=now + timedelta(seconds=wf.timeout) if wf is not None and wf.timeout else None,
            lease_owner=None if claim is None else claim.owner,
            lease_expires_at=None if claim is None else now + claim.lease_ttl,
            # this app's code version: a tick run here then needs no version write before its body
            # (with many ticks due at once those writes queued one behind the other)
            app_version=self._s.version() if wf is not None else None,
        )
