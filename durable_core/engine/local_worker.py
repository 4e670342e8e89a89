"""The app's dispatcher as this process's :class:`~durable_core.engine.services.LocalWorker`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

from durable_core.authoring.runtime import WaitSpec
from durable_core.engine.dispatcher import Dispatcher
from durable_core.types import ClaimedInstance, HistoryEntry, LocalClaim


class DispatcherWorker:
    """Routes local wake-ups, leases and hand-offs to the dispatcher of an app.

    Args:
        owner: the lease owner of this process's worker.
        lease_ttl: how long a lease taken by a local send lasts.
        accepting: whether the app runs workers and is initialized (wake-ups and local leases only then).
    """

    def __init__(self, owner: str, lease_ttl: timedelta, accepting: Callable[[], bool]) -> None:
        self._owner = owner
        self._lease_ttl = lease_ttl
        self._accepting = accepting
        self._dispatcher: Dispatcher | None = None

    def attach(self, dispatcher: Dispatcher) -> None:
        """Serve through ``dispatcher`` (created after the services that hold this worker)."""
        self._dispatcher = dispatcher

    def wake(self, instance_ids: Iterable[str]) -> None:
        """Hint the dispatcher to run these instances here at once."""
        if self._dispatcher is not None and self._accepting():
            for instance_id in instance_ids:
                self._dispatcher.hint(instance_id)

    def claim_request(self) -> LocalClaim | None:
        """A lease request for this worker when it accepts work and has a free slot or backlog room."""
        if self._dispatcher is not None and self._accepting() and self._dispatcher.has_capacity():
            return LocalClaim(self._owner, self._lease_ttl)
        return None

    def adopt(self, claimed: ClaimedInstance) -> None:
        """Run an instance a local send leased to this worker."""
        if self._dispatcher is not None:
            self._dispatcher.adopt(claimed)

    def parked_wait(self, instance_id: str) -> tuple[int, int, WaitSpec] | None:
        """(epoch, position, spec) of the event/message wait this process parked the instance on."""
        parked = None if self._dispatcher is None else self._dispatcher.parked_here(instance_id)
        if parked is None or parked.wait is None:
            return None
        return parked.epoch, parked.wait[0], parked.wait[1]

    def note_handoff(self, instance_id: str, entry: HistoryEntry) -> None:
        """Add the wait's end recorded by a local send to the remembered history."""
        if self._dispatcher is not None:
            self._dispatcher.note_handoff(instance_id, entry)
