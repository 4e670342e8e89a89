"""Holding back an interruption while a step whose body has ended records its outcome.

A run is interrupted by cancelling its asyncio task (the workflow deadline's watchdog, a shutdown
that stops waiting). A body that is still running is interrupted: it has no record, and so no
compensation. Once the body has returned (or raised its final error) its side effects have happened,
so its outcome must reach the history - a cancellation that cut the record write short would lose a
step that happened and skip its compensation. :class:`StepEnd` lets those writes run to their end and
re-raises the cancellation after them.

This does not outlive a lost lease: the record write is fenced by the lease as always, and a write
refused because another worker owns the instance still fails (its error is raised, not hidden).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class StepEnd:
    """The end of one step: awaits that must finish even if the run is interrupted meanwhile."""

    __slots__ = ("interrupted",)

    def __init__(self) -> None:
        #: the cancellation that arrived while an end-of-step write was running (re-raised after it)
        self.interrupted: asyncio.CancelledError | None = None

    async def finish(self, call: Awaitable[T]) -> T:
        """Await ``call`` to its end even if the calling task is cancelled meanwhile.

        The cancellation is remembered (see :meth:`raise_if_interrupted`), not lost. If ``call`` itself
        was cancelled or failed, that is raised as usual.
        """
        task = asyncio.ensure_future(call)
        while True:
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError as exc:
                if task.done():  # the write itself was cancelled (e.g. the loop is closing)
                    raise
                self.interrupted = exc

    def raise_if_interrupted(self) -> None:
        """Let a held-back cancellation take effect now."""
        if self.interrupted is not None:
            interrupted, self.interrupted = self.interrupted, None
            raise interrupted
