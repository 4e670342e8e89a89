"""``ctx.stream(name)``: the writer side of a durable output stream, as activities see it.

The engine implements :class:`OutputStream`; the authoring layer only names what a writer offers.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Any

__all__ = ["OutputStream"]


class OutputStream(abc.ABC):
    """A named stream an activity appends chunks to (``str``, ``bytes`` or any JSON value).

    ``write`` only buffers (it never blocks, and may be called from a sync activity's thread); buffered
    chunks are stored within a short window, when enough have piled up, on ``flush()``, and at the end of
    the attempt at the latest - always before the step's result is recorded. Use it as an async context
    manager (or call ``close()``) to mark the stream finished, so followers stop.
    """

    name: str

    @abc.abstractmethod
    def write(self, chunk: Any) -> None:
        """Buffer ``chunk`` for storage (``str``, ``bytes`` or a JSON value).

        Raises:
            TypeError: the chunk is not storable as JSON or bytes.
            ApiMisuseError: the stream was closed, or the attempt that opened it has ended.
        """

    @abc.abstractmethod
    async def flush(self) -> None:
        """Store every buffered chunk now (readers see them once this returns)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush, then store a CLOSE marker: followers stop after it. Idempotent."""

    async def __aenter__(self) -> OutputStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            await self.close()
        else:  # a failed attempt leaves the stream open: the retry goes on writing to it
            await self.flush()
