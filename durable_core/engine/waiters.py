"""Waiting for instances to finish: pushed locally, polled (with back-off) for other processes."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from durable_core.errors import InstanceNotFoundError, ResultTimeoutError
from durable_core.storage.base import Storage
from durable_core.types import InstanceRecord, InstanceStatus

_MAX_POLL = 1.0


class ResultWaiters:
    """Futures per instance id, resolved when a local run of that instance ends."""

    def __init__(self) -> None:
        self._futures: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)

    def notify(self, instance_id: str) -> None:
        """Wake everyone waiting on ``instance_id``."""
        for future in self._futures.pop(instance_id, ()):
            if not future.done():
                future.set_result(None)

    def fail_all(self, error: Exception) -> None:
        """Wake every waiter with ``error`` (the app is shutting down)."""
        for futures in self._futures.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error)
        self._futures.clear()

    async def wait_finished(
        self, storage: Storage, instance_id: str, timeout: float | None
    ) -> InstanceRecord:
        """Return the record once it is finished or blocked.

        Raises:
            InstanceNotFoundError: unknown id.
            ResultTimeoutError: still running after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = 0.02
        while True:
            future: asyncio.Future[None] = loop.create_future()
            self._futures[instance_id].add(future)
            try:
                record = await storage.get_instance(instance_id)
                if record is None:
                    raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
                if record.status.is_finished or record.status is InstanceStatus.BLOCKED:
                    return record
                wait = poll
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise ResultTimeoutError(
                            f"instance {instance_id} is still {record.status.value} after {timeout} s "
                            "(it keeps running; ask again later)"
                        )
                    wait = min(poll, remaining)
                try:
                    await asyncio.wait_for(asyncio.shield(future), wait)
                except TimeoutError:
                    poll = min(poll * 2, _MAX_POLL)
            finally:
                self._futures[instance_id].discard(future)
                if not self._futures[instance_id]:
                    self._futures.pop(instance_id, None)
