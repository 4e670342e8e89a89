"""Waiting for instances to finish: pushed locally, polled (with back-off) for other processes."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

from durable_core.errors import InstanceNotFoundError, ResultTimeoutError, StorageUnavailableError
from durable_core.storage.base import Storage
from durable_core.types import InstanceRecord, InstanceStatus

_MAX_POLL = 1.0


def _settled(record: InstanceRecord | None) -> bool:
    return record is not None and (record.status.is_finished or record.status is InstanceStatus.BLOCKED)


class ResultWaiters:
    """Futures per instance id, resolved when a local run of that instance ends.

    A local run hands over its final record, so a waiter in the same process needs no read at all.
    """

    def __init__(self) -> None:
        self._futures: defaultdict[str, set[asyncio.Future[InstanceRecord | None]]] = defaultdict(set)

    def notify(self, instance_id: str, record: InstanceRecord | None) -> None:
        """Wake everyone waiting on ``instance_id`` (``record``: its final state, if the run wrote one)."""
        for future in self._futures.pop(instance_id, ()):
            if not future.done():
                future.set_result(record)

    def fail_all(self, error: Exception) -> None:
        """Wake every waiter with ``error`` (the app is shutting down)."""
        for futures in self._futures.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error)
        self._futures.clear()

    async def wait_finished(
        self,
        storage: Storage,
        instance_id: str,
        timeout: float | None,
        *,
        running_here: Callable[[], bool] = lambda: False,
    ) -> InstanceRecord:
        """Return the record once it is finished or blocked.

        Args:
            storage: where to read the instance when its end is not pushed.
            instance_id: the instance.
            timeout: seconds to wait at most (None: no limit).
            running_here: whether the instance runs (or waits to run) in this process right now; while
                it does, its end will be pushed and the database is not polled.

        Raises:
            InstanceNotFoundError: unknown id.
            ResultTimeoutError: still running after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = 0.02
        while True:
            skip_read = running_here()
            future: asyncio.Future[InstanceRecord | None] = loop.create_future()
            self._futures[instance_id].add(future)
            try:
                record = None
                if not skip_read:
                    try:
                        record = await storage.get_instance(instance_id)
                    except StorageUnavailableError:
                        if deadline is not None and loop.time() >= deadline:
                            raise
                        record = None  # the database is away: keep waiting (bounded by the timeout)
                    else:
                        if record is None:
                            raise InstanceNotFoundError(f"no workflow instance with id {instance_id!r}")
                        if _settled(record):
                            return record
                wait = _MAX_POLL if skip_read else poll
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        status = record.status.value if record is not None else "running"
                        raise ResultTimeoutError(
                            f"instance {instance_id} is still {status} after {timeout} s "
                            "(it keeps running; ask again later)"
                        )
                    wait = min(wait, remaining)
                try:
                    pushed = await asyncio.wait_for(asyncio.shield(future), wait)
                except TimeoutError:
                    poll = min(poll * 2, _MAX_POLL)
                    continue
                if pushed is not None and _settled(pushed):
                    return pushed
            finally:
                self._futures[instance_id].discard(future)
                if not self._futures[instance_id]:
                    self._futures.pop(instance_id, None)
